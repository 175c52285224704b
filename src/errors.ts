import { hintOf } from "./error-codes.js";

/**
 * An error a user can act on: a stable code (registered in error-codes.ts), a one-line message,
 * and a hint that says how to fix it (the code's default hint unless the throw site gives one).
 * The CLI prints `error: <message>` and `  fix: <hint>`, never a stack trace.
 */
export class VmdError extends Error {
  readonly hint?: string;

  constructor(
    readonly code: string,
    message: string,
    hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.hint = hint ?? hintOf(code);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
