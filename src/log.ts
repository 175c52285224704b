import { pino, type Logger } from "pino";

export type { Logger };

/** The one structured logger. Writes JSON lines to stderr so stdout stays free for command output. */
export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino(
    { name: opts.name ?? "vmdocker", level: opts.level ?? process.env.VMDOCKER_LOG_LEVEL ?? "info" },
    pino.destination({ fd: 2, sync: true }),
  );
}
