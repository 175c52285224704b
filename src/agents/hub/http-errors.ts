import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { VmdError } from "../../errors.js";

/**
 * A Fastify error handler answering `{error, message, hint}`: a VmdError with the status
 * `statusOf(code)` picks, a zod error as 400 `err_invalid_params` naming the first bad field,
 * anything else with its own status (500 by default) as `err_internal`. Used by the hub's API and
 * the dashboard's.
 */
export function jsonErrorHandler(statusOf: (code: string) => number) {
  return (err: Error & { statusCode?: number }, _req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof VmdError)
      return reply
        .code(statusOf(err.code))
        .send({ error: err.code, message: err.message, hint: err.hint });
    if (err instanceof z.ZodError) {
      const i = err.issues[0]!;
      return reply
        .code(400)
        .send({ error: "err_invalid_params", message: `${i.path.join(".")}: ${i.message}` });
    }
    return reply.code(err.statusCode ?? 500).send({ error: "err_internal", message: err.message });
  };
}
