import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ProtocolError } from "../protocol/errors.js";
import type { VmmResult } from "../protocol/hymx.js";
import type { HymxNode } from "./node.js";

/** hymx's results cursor: base64url of {"timestamp","ordinate":nonce,"cron","sort"}. */
export function resultCursor(timestamp: string, nonce: string): string {
  return Buffer.from(
    JSON.stringify({
      timestamp: Number(timestamp),
      ordinate: nonce,
      cron: "1-10-minutes",
      sort: "ASC",
    }),
  ).toString("base64url");
}

function cursorNonce(cursor: string | undefined): number | undefined {
  if (!cursor) return undefined;
  try {
    const n = Number(
      (JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { ordinate?: string })
        .ordinate,
    );
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return /^\d+$/.test(cursor) ? Number(cursor) : undefined;
  }
}

/** A stored result in AO's CU shape (Messages, Spawns, Output, Error, GasUsed), keeping hymx's fields too. */
function aoResult(r: VmmResult) {
  return { ...r, Output: r.Output ?? r.Data, Error: r.Error || undefined, GasUsed: 0 };
}

const DryRunSchema = z.object({
  Id: z.string().optional(),
  Owner: z.string().optional(),
  Target: z.string().optional(),
  Anchor: z.string().optional(),
  Data: z.string().optional(),
  Tags: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
});

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
    const q = req.query;
    const ao = q.from !== undefined || q.to !== undefined || q.sort !== undefined;
    let rows: VmmResult[];
    if (!ao) {
      // hymx: the last N (default 5), oldest first
      const limit = Math.max(1, Math.min(1000, Number(q.limit ?? 5) || 5));
      rows = (await store.results(req.params.pid, { limit, sort: "DESC" })).reverse();
    } else {
      const sort = (q.sort ?? "ASC").toUpperCase() === "DESC" ? "DESC" : "ASC";
      const limit = Math.max(1, Math.min(1000, Number(q.limit ?? 25) || 25));
      rows = await store.results(req.params.pid, {
        limit,
        sort,
        from: cursorNonce(q.from),
        to: cursorNonce(q.to),
      });
    }
    return {
      edges: rows.map((r) => ({
        cursor: resultCursor(r.Timestamp, r.Nonce),
        node: ao ? aoResult(r) : r,
      })),
    };
  });

  app.get<{ Params: { msgid: string }; Querystring: { "process-id"?: string } }>(
    "/result/:msgid",
    async (req) => {
      // Like a CU, answer once the message is evaluated: wait (bounded) for a known message's result.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const r = await store.result(req.params.msgid);
        if (r) return aoResult(r);
        if (!(await store.locate(req.params.msgid)) || Date.now() > deadline) {
          throw new ProtocolError("err_result_not_found");
        }
        await new Promise((res) => setTimeout(res, 20));
      }
    },
  );

  app.post<{ Querystring: { "process-id"?: string } }>("/dry-run", async (req) => {
    const pid = req.query["process-id"];
    const body = Buffer.isBuffer(req.body)
      ? JSON.parse(req.body.toString("utf8") || "{}")
      : req.body;
    const msg = DryRunSchema.safeParse(body);
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
