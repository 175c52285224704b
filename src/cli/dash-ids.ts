import type { Command } from "commander";

/** An ANS-104 id (43 base64url characters) that begins with "-", as one id in 64 does. */
const DASH_ID = /^-[A-Za-z0-9_-]{42}$/;
/** Prefix that keeps such an id from looking like an option while commander parses. */
const MARK = "\u2063id:";

const unmark = (v: unknown): unknown =>
  typeof v === "string" && v.startsWith(MARK)
    ? v.slice(MARK.length)
    : Array.isArray(v)
      ? v.map(unmark)
      : v;

/**
 * Lets ids that begin with "-" be typed where ids go (`vmdocker send -iGH… --action Ping`):
 * commander would otherwise refuse them as unknown options. Marks such tokens of `argv` (before
 * any `--`) and registers a preAction hook on `program` that restores them in the action's
 * arguments and in every option value of the action's command and its parents. No option name is
 * 43 characters long, so nothing else changes. Returns the argv to parse.
 */
export function acceptDashIds(program: Command, argv: string[]): string[] {
  program.hook("preAction", (_root, action) => {
    action.processedArgs = action.processedArgs.map(unmark);
    action.args = action.args.map((a) => unmark(a) as string);
    for (let c: Command | null = action; c; c = c.parent)
      for (const [key, value] of Object.entries(c.opts()))
        if (unmark(value) !== value)
          c.setOptionValueWithSource(key, unmark(value), c.getOptionValueSource(key)!);
  });
  const end = argv.indexOf("--");
  return argv.map((a, i) => ((end === -1 || i < end) && DASH_ID.test(a) ? MARK + a : a));
}
