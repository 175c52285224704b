/** How much a log line matters; a logger drops lines below its level. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Structured facts beside a message (`pid`, `error`, …), printed as JSON after it. */
export type LogFields = Record<string, unknown>;

/**
 * The one logger: a message with a level and fields. `child(fields)` adds fields to every line
 * (e.g. `{ component: "hub" }`). Passed in as a dependency, never a module-level singleton.
 */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

/** Where callers that only print lines (a CLI, a test) can hand a function instead of a Logger. */
export type LogTarget = Logger | ((line: string) => void);

/**
 * A logger that writes one text line per message: `msg {"field":…}`, warnings and errors prefixed
 * `warning:` / `error:` (what the CLI prints). Lines below `level` (default info) are dropped.
 */
export function lineLogger(
  write: (line: string) => void,
  level: LogLevel = "info",
  fields: LogFields = {},
): Logger {
  const at =
    (l: LogLevel) =>
    (msg: string, more?: LogFields): void => {
      if (RANK[l] < RANK[level]) return;
      const all = more ? { ...fields, ...more } : fields;
      const tail = Object.keys(all).length ? ` ${JSON.stringify(all)}` : "";
      const prefix = l === "warn" ? "warning: " : l === "error" ? "error: " : "";
      write(`${prefix}${msg}${tail}`);
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => lineLogger(write, level, { ...fields, ...more }),
  };
}

/** A logger that drops everything. */
export const silentLogger: Logger = lineLogger(() => {}, "error", {});

/** A Logger as it is, or a line-printing function wrapped in a lineLogger. */
export function toLogger(target: LogTarget | undefined): Logger {
  if (!target) return lineLogger(() => {});
  return typeof target === "function" ? lineLogger(target) : target;
}
