// A QMP client (QEMU Machine Protocol: JSON lines over a Unix socket). One connection per use:
// QEMU serves one QMP client at a time, so nobody holds it open.
import { createConnection } from "node:net";
import { VmdError } from "../../errors.js";

type Json = Record<string, unknown>;

export interface QmpSession {
  /** Runs a command and returns its `return` value. @throws VmdError err_qmp with QEMU's `desc` */
  execute(command: string, args?: Json): Promise<unknown>;
  /** An HMP command line through `human-monitor-command`; returns its text output. */
  hmp(commandLine: string): Promise<string>;
  close(): void;
}

/**
 * Connects to `socket`, reads the greeting and enters command mode (`qmp_capabilities`).
 * @throws VmdError err_qmp when the socket does not answer within `timeoutMs`
 */
export function qmpConnect(socket: string, timeoutMs = 10_000): Promise<QmpSession> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buf = "";
    const waiting: ((msg: Json) => void)[] = [];
    let greeted = false;
    const fail = (why: string) =>
      new VmdError(
        "err_qmp",
        `QEMU's control socket ${socket}: ${why}`,
        "check that the VM is running (`vm-ctl status <id>`)",
      );
    const timer = setTimeout(() => {
      conn.destroy();
      reject(fail("no answer"));
    }, timeoutMs);
    conn.setEncoding("utf8");
    conn.on("error", (err) => {
      clearTimeout(timer);
      reject(fail(err.message));
      for (const w of waiting.splice(0)) w({ error: { desc: err.message } });
    });
    conn.on("close", () => {
      for (const w of waiting.splice(0)) w({ error: { desc: "connection closed" } });
    });
    const send = (msg: Json) =>
      new Promise<Json>((done) => {
        waiting.push(done);
        conn.write(`${JSON.stringify(msg)}\n`);
      });
    const execute = async (command: string, args?: Json) => {
      const res = await send({ execute: command, ...(args ? { arguments: args } : {}) });
      if (res.error) {
        const e = res.error as { desc?: string };
        throw fail(`${command}: ${e.desc ?? JSON.stringify(e)}`);
      }
      return res.return;
    };
    conn.on("data", (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Json;
        if (msg.event) continue;
        if (msg.QMP && !greeted) {
          greeted = true;
          void execute("qmp_capabilities").then(
            () => {
              clearTimeout(timer);
              resolve({
                execute,
                hmp: async (commandLine) =>
                  String(
                    (await execute("human-monitor-command", { "command-line": commandLine })) ?? "",
                  ),
                close: () => conn.end(),
              });
            },
            (err: unknown) => {
              clearTimeout(timer);
              reject(err as Error);
            },
          );
          continue;
        }
        waiting.shift()?.(msg);
      }
    });
  });
}

/** Connects, runs `fn`, and closes, whatever happens. */
export async function withQmp<T>(
  socket: string,
  fn: (qmp: QmpSession) => Promise<T>,
  timeoutMs?: number,
): Promise<T> {
  const qmp = await qmpConnect(socket, timeoutMs);
  try {
    return await fn(qmp);
  } finally {
    qmp.close();
  }
}
