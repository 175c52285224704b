import { createServer, type Server } from "node:http";
import type { FastifyInstance } from "fastify";
import { VmdError } from "../../errors.js";
import { loadOrCreateToken } from "../../sys/token-file.js";
import { buildHubApi } from "./api.js";
import type { ProfileCatalog } from "../profiles.js";
import { Hub } from "./hub.js";
import { RedisHubStore } from "./redis-store.js";
import { SqliteHubStore, type HubStore } from "./store.js";

export const DEFAULT_WS_PORT = 9090;
export const DEFAULT_HTTP_PORT = 9091;

export interface HubConfig {
  wsPort: number;
  httpPort: number;
  /** Where agents connect: loopback plus the Docker bridge gateways (what host.docker.internal is). */
  wsHosts: string[];
  httpHost: string;
  db: string;
  /** Keep agents and tasks in Redis instead of the SQLite file `db`. */
  redisURL?: string;
  tokenFile: string;
  /** A token to use instead of the one kept in tokenFile. */
  token?: string;
  healthIntervalMs?: number;
  /** The profiles agents may be registered under (POST /agents answers 404 for another). */
  profiles?: Pick<ProfileCatalog, "get">;
  log: (line: string) => void;
}

export interface RunningHub {
  hub: Hub;
  api: FastifyInstance;
  apiURL: string;
  wsPort: number;
  token: string;
  close(): Promise<void>;
}

function listenOn(server: Server, port: number, host: string, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE"
          ? new VmdError(
              "err_port_in_use",
              `the hub's ${what} port ${host}:${port} is in use`,
              `stop what uses it (another hub?), or pass --${what === "WebSocket" ? "ws" : "http"}-port`,
            )
          : err,
      ),
    );
    server.listen(port, host, () => {
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : port);
    });
  });
}

/** Starts the hub: WebSocket for agents on every `wsHosts` address, the HTTP API on `httpHost`. */
export async function startHub(cfg: HubConfig): Promise<RunningHub> {
  let store: HubStore;
  if (cfg.redisURL) {
    const redis = new RedisHubStore(cfg.redisURL);
    await redis.connect();
    store = redis;
  } else store = new SqliteHubStore(cfg.db);
  const token = cfg.token || loadOrCreateToken(cfg.tokenFile);
  const hub = new Hub({ store, log: cfg.log, healthIntervalMs: cfg.healthIntervalMs });
  let wsPort = cfg.wsPort;
  const api = buildHubApi(hub, store, token, () => wsPort, cfg.profiles);
  const servers: Server[] = [];
  try {
    for (const host of [...new Set(cfg.wsHosts)]) {
      const server = createServer((_req, res) => {
        res.writeHead(426, { "content-type": "text/plain" }).end("agents connect with WebSocket\n");
      });
      server.on("upgrade", (req, socket, head) =>
        hub.wss.handleUpgrade(req, socket, head, (ws) => hub.wss.emit("connection", ws, req)),
      );
      servers.push(server);
      // The first listener may pick a free port (0); the others use the same one.
      wsPort = await listenOn(server, wsPort, host, "WebSocket");
    }
    await api
      .listen({ port: cfg.httpPort, host: cfg.httpHost })
      .catch((err: NodeJS.ErrnoException) => {
        throw err.code === "EADDRINUSE"
          ? new VmdError(
              "err_port_in_use",
              `the hub's HTTP port ${cfg.httpHost}:${cfg.httpPort} is in use`,
              "stop what uses it (another hub?), or pass --http-port",
            )
          : err;
      });
    const a = api.server.address();
    const httpPort = typeof a === "object" && a ? a.port : cfg.httpPort;
    const apiURL = `http://${cfg.httpHost}:${httpPort}`;
    cfg.log(
      `hub (store ${store.kind}): agents connect to ws://{${cfg.wsHosts.join(",")}}:${wsPort}, API on ${apiURL} (Authorization: Bearer <token in ${cfg.token ? "config" : cfg.tokenFile}>)`,
    );
    return {
      hub,
      api,
      apiURL,
      wsPort,
      token,
      async close() {
        await hub.close();
        await api.close();
        await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
        await store.close();
      },
    };
  } catch (err) {
    await hub.close();
    await api.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await store.close();
    throw err;
  }
}
