/**
 * An error a user can act on: a stable code, a one-line message, and a hint that says how to fix it.
 * The CLI prints `error: <message>` and `  fix: <hint>`, never a stack trace.
 */
export class VmdError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
