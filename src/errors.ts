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

/** An error as one line; a VmdError keeps its code and fix (what a result's or a log's reader needs). */
export function errorText(err: unknown): string {
  return err instanceof VmdError
    ? `${err.message} (${err.code}; fix: ${err.hint})`
    : errorMessage(err);
}

/** What an HTTP API answers for an error: the code, a one-line message, and how to fix it. */
export interface ErrorBody {
  error: string;
  message: string;
  hint: string;
}

/** "err_process_not_found" → "process not found": the message of an error thrown without one. */
function messageOf(code: string): string {
  return code.replace(/^err_/, "").replaceAll("_", " ");
}

/**
 * The error body for `code`: all three fields, always. `message` defaults to the code in words
 * ("process not found"), `hint` to the code's registered hint (error-codes.ts), else a pointer to
 * the README's list of codes.
 */
export function errorBody(code: string, message?: string, hint?: string): ErrorBody {
  return {
    error: code,
    message: message || messageOf(code),
    hint: hint || hintOf(code) || "see the Error codes section of the README",
  };
}

/**
 * The status and body an HTTP API answers for an error its routes or Fastify's body parsing threw:
 * a VmdError with its own code (`statusOf(code)`); a body over `bodyLimit` bytes as 413
 * err_body_too_large; a body that is not JSON, and any other client error Fastify raises, as 400
 * err_invalid_params; anything else as 500 err_internal. The message leaves out the code
 * (a ProtocolError's "code: detail" answers its detail alone). `tooLargeHint` replaces the
 * registry's 413 hint (which names the node's maxBodyBytes) for APIs with a fixed limit.
 */
export function httpError(
  err: unknown,
  statusOf: (code: string) => number,
  bodyLimit?: number,
  tooLargeHint?: string,
): { status: number; body: ErrorBody } {
  if (err instanceof VmdError) {
    // A ProtocolError's message is "code: detail" (or the code alone).
    const prefix = `${err.code}: `;
    const message =
      err.message === err.code
        ? undefined
        : err.message.startsWith(prefix)
          ? err.message.slice(prefix.length)
          : err.message;
    return { status: statusOf(err.code), body: errorBody(err.code, message, err.hint) };
  }
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 413 || e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    const limit = bodyLimit === undefined ? "the limit" : `${bodyLimit} bytes`;
    return {
      status: 413,
      body: errorBody("err_body_too_large", `the body is larger than ${limit}`, tooLargeHint),
    };
  }
  if (e.code === "FST_ERR_CTP_INVALID_JSON_BODY" || e.code === "FST_ERR_CTP_EMPTY_JSON_BODY")
    return {
      status: 400,
      body: errorBody(
        "err_invalid_params",
        `the body is not JSON (${e.message ?? "empty"})`,
        "send a JSON body with Content-Type: application/json",
      ),
    };
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500)
    return { status: 400, body: errorBody("err_invalid_params", e.message) };
  return { status: 500, body: errorBody("err_internal", e.message ?? String(err)) };
}

/**
 * A Fastify not-found handler: 404 `{error: "err_not_found", message: "no route GET /x", hint}`
 * (the hint says where the routes are listed).
 */
export function jsonNotFound(
  req: { method: string; url: string },
  reply: { code(status: number): { send(body: ErrorBody): unknown } },
): unknown {
  return reply
    .code(404)
    .send(
      errorBody(
        "err_not_found",
        `no route ${req.method} ${req.url.split("?")[0]}`,
        "check the path against the README (its API sections list every route)",
      ),
    );
}
