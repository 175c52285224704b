// Shared by vm-setup and vm-ctl: keeping secrets out of `ps`, quiet exits on closed pipes.
import { VmdError } from "../errors.js";

const SECRET_FLAGS = /^--(telegram-token|anthropic-api-key|openai-api-key|minimax-api-key)(=.*)?$/;

/** The command line with the values of secret flags replaced by `***` (pure). */
export function redactArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = SECRET_FLAGS.exec(a);
    if (!m) out.push(a);
    else if (m[2] !== undefined) out.push(`--${m[1]}=***`);
    else {
      out.push(a, "***");
      i++;
    }
  }
  return out;
}

/**
 * Rewrites this process's command line (what `ps` and /proc/<pid>/cmdline show) without secret
 * values. Passing secrets in the environment avoids even the moment before this runs.
 */
export function hideSecretsFromPs(name: string): void {
  const args = process.argv.slice(2);
  const redacted = redactArgs(args);
  if (redacted.join("\0") !== args.join("\0")) process.title = [name, ...redacted].join(" ");
}

/** `vm-ctl list | head -1` must not end in an EPIPE stack trace. */
export function exitQuietlyOnClosedPipe(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
}

/** A week: far above any honest wait, and far below where Node's timers overflow (~24.8 days). */
const MAX_SECONDS = 604_800;

/** @throws VmdError err_bad_flag */
export function positiveSeconds(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_SECONDS)
    throw new VmdError(
      "err_bad_flag",
      `${flag} ${value} is not a number of seconds from 1 to ${MAX_SECONDS}`,
      `pass ${flag} 600`,
    );
  return n;
}
