import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { errorBody, httpError } from "../../errors.js";

/**
 * A Fastify error handler answering `{error, message, hint}`: a VmdError with the status
 * `statusOf(code)` picks, a zod error as 400 `err_invalid_params` naming the first bad field, a
 * body that is not JSON as 400 `err_invalid_params`, one over `bodyLimit` bytes as 413
 * `err_body_too_large` (with `tooLargeHint`), anything else as 500 `err_internal` (errors.ts
 * `httpError`). Used by the hub's API and the dashboard's.
 */
export function jsonErrorHandler(
  statusOf: (code: string) => number,
  bodyLimit?: number,
  tooLargeHint?: string,
) {
  return (err: Error, _req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof z.ZodError) {
      const i = err.issues[0]!;
      return reply
        .code(400)
        .send(errorBody("err_invalid_params", `${i.path.join(".")}: ${i.message}`));
    }
    const { status, body } = httpError(err, statusOf, bodyLimit, tooLargeHint);
    return reply.code(status).send(body);
  };
}
