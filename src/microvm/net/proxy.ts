// The localhost proxy (seed: socat 127.0.0.1:<HOST_PORT> → VM:18789), with Node's own net module:
// every connection to the listening address is piped to the guest's gateway port.
import { createConnection, createServer, type Server, type Socket } from "node:net";

export interface TcpProxy {
  /** The bound address, e.g. `127.0.0.1:18890`. */
  address: string;
  close(): Promise<void>;
}

/**
 * Listens on `listenHost:listenPort` and pipes each connection to `targetHost:targetPort`.
 * A connection the guest refuses is closed at once (the client sees a reset, as with socat).
 * @throws the listen error (EADDRINUSE when the port is taken)
 */
export function startProxy(opts: {
  listenHost: string;
  listenPort: number;
  targetHost: string;
  targetPort: number;
  log?: (line: string) => void;
}): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    const upstream = createConnection({ host: opts.targetHost, port: opts.targetPort });
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: opts.listenHost, port: opts.listenPort, exclusive: true }, () => {
      server.off("error", reject);
      server.on("error", (err) => opts.log?.(`proxy: ${err.message}`));
      resolve({
        address: `${opts.listenHost}:${(server.address() as { port: number }).port}`,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
