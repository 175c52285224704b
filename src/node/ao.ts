import type { FastifyInstance } from "fastify";
import { statusOf } from "../error-codes.js";
import { errorBody } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { VmmResult } from "../protocol/hymx.js";
import type { HymxNode } from "./node.js";
import { DryRunSchema } from "./dry-run.js";
import { parseResultsRequest, resultCursor } from "./read-params.js";

/** A stored result in AO's CU shape (Messages, Spawns, Output, Error, GasUsed), keeping hymx's fields too. */
function aoResult(r: VmmResult) {
  return { ...r, Output: r.Output ?? r.Data, Error: r.Error || undefined, GasUsed: 0 };
}

/** A JSON request body (raw buffer or parsed); anything that is not JSON is err_invalid_params. */
export function jsonBody(body: unknown): unknown {
  if (!Buffer.isBuffer(body)) return body;
  try {
    return JSON.parse(body.toString("utf8") || "{}");
  } catch {
    throw new ProtocolError("err_invalid_params", "the body is not JSON");
  }
}

/**
 * What AO's JS client (aoconnect, legacy mode, MU_URL and CU_URL = this node) needs beyond hymx:
 * `/result/:msg?process-id=`, `/results` with from/to/sort/limit, `/dry-run` and `/state/:pid`
 * (the gateway's GraphQL is graphql.ts).
 */
export function registerAoRoutes(app: FastifyInstance, node: HymxNode): void {
  const store = node.store;

  app.get<{
    Params: { pid: string };
    Querystring: { limit?: string; from?: string; to?: string; sort?: string };
  }>("/results/:pid", async (req) => {
    const { hymx, sort, query } = parseResultsRequest(req.query);
    const rows = await store.results(req.params.pid, { ...query, limit: query.limit + 1 });
    const page = rows.slice(0, query.limit);
    // hymx's form lists the last N oldest first.
    if (hymx) page.reverse();
    return {
      pageInfo: { hasNextPage: rows.length > query.limit },
      edges: page.map((r) => ({
        cursor: resultCursor(r.Timestamp, r.Nonce, hymx ? "ASC" : sort),
        node: hymx ? r : aoResult(r),
      })),
    };
  });

  app.get<{ Params: { msgid: string }; Querystring: { "process-id"?: string } }>(
    "/result/:msgid",
    async (req, reply) => {
      const pid = req.query["process-id"];
      const notFound = () =>
        reply.code(statusOf("err_result_not_found")).send(errorBody("err_result_not_found"));
      // Like a CU, answer once the message is evaluated: wait (bounded) for a known message's result.
      const at = await store.locate(req.params.msgid);
      if (!at) return notFound();
      let id = req.params.msgid;
      // Under another process, the result is that process's evaluation of the message assigned
      // to it (AO's result of an assignment); a message it never had is not found.
      if (pid !== undefined && at.pid !== pid) {
        const assigned = await node.assignmentOf(pid, id);
        if (!assigned) return notFound();
        id = assigned;
      }
      const r = await node.results.read(id, 30_000);
      return r ? aoResult(r) : notFound();
    },
  );

  app.post<{ Querystring: { "process-id"?: string } }>("/dry-run", async (req) => {
    const pid = req.query["process-id"];
    const msg = DryRunSchema.safeParse(jsonBody(req.body));
    if (!pid || !msg.success) throw new ProtocolError("err_invalid_params");
    const out = await node.dryrun(pid, msg.data);
    return {
      Messages: out.Messages ?? [],
      Spawns: out.Spawns ?? [],
      Assignments: out.Assignments ?? [],
      Output: out.Output ?? out.Data ?? "",
      Data: out.Data ?? "",
      Error: out.Error,
      GasUsed: 0,
    };
  });

  app.get<{ Params: { pid: string } }>("/state/:pid", async (req, reply) =>
    reply.type("application/octet-stream").send(await node.state(req.params.pid)),
  );
}
