import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { statusOf } from "../error-codes.js";
import { errorBody, httpError, jsonNotFound } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import { RedirectError, type HymxNode } from "./node.js";
import { parseWaitMs } from "./read-params.js";
import { jsonBody, registerAoRoutes } from "./ao.js";
import { registerGraphql, type GraphqlSources } from "./graphql.js";
import type { ModuleCatalog } from "./modules.js";
import type { VmRegistry } from "../vm/contract.js";

export interface HttpOptions {
  node: HymxNode;
  modules: ModuleCatalog;
  vms: VmRegistry;
  nodeInfo: { Name: string; Desc: string; URL: string; Role: string };
  maxBodyBytes: number;
  /** Signed items the gateway GraphQL serves from outside the store (modules, scheduler location). */
  extraItem?: GraphqlSources["extraItem"];
  /** Brings the GraphQL index up to date before a lookup (modules added to mod/). */
  refreshIndex?: GraphqlSources["refresh"];
}

const bad = (reply: FastifyReply, code: string, status = statusOf(code)) =>
  reply.code(status).send(errorBody(code));

/** A nonce in a path: a whole number, else err_invalid_nonce. */
function nonceParam(raw: string): number {
  if (!/^\d{1,15}$/.test(raw))
    throw new ProtocolError("err_invalid_nonce", `${raw} is not a nonce (a whole number)`);
  return Number(raw);
}

/** hymx's HTTP API (spec §2.3): same routes, JSON shapes and `{"error": code}` envelope. */
export function buildHttp(opts: HttpOptions): FastifyInstance {
  const { node } = opts;
  const store = node.store;
  const app = Fastify({ bodyLimit: opts.maxBodyBytes, logger: false });

  // Bodies are bytes whatever a client calls them (an item sent as text/plain is still an item):
  // Fastify's own JSON and text parsers go; routes that take JSON parse the bytes themselves.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.addHook("onSend", async (_req, reply) => {
    reply.header("Access-Control-Allow-Origin", "*");
    reply.header("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS");
  });
  // Errors answer {error: code, message?, hint} (hymx's clients read `error`, the code).
  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof RedirectError)
      return reply.code(308).header("Location", err.location).send(err.body);
    const { status, body } = httpError(err, statusOf, opts.maxBodyBytes);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler(jsonNotFound);

  // ?wait=<ms> (vmdocker's own clients): the answer also carries the result once it is stored,
  // within that time (at most 60 s), which saves the client its GET /result. Without it, or when
  // no result came in time, the answer is upstream's `{id, message}` alone.
  app.post<{ Querystring: { wait?: string } }>("/", async (req, reply) => {
    const body = req.body as Buffer | undefined;
    // Checked before the item is taken: a refused request must not have sent it.
    const waitMs = parseWaitMs(req.query.wait);
    if (!body || body.length === 0) return bad(reply, "err_invalid_item");
    const { id } = await node.submit(body);
    const result = waitMs > 0 ? await node.results.read(id, waitMs, true) : null;
    return result ? { id, message: "", result } : { id, message: "" };
  });

  // A result is served under its own process only; any other pid reads as not found (null).
  // ?wait=<ms>: answer as soon as the result is stored, within that time (at most 60 s); a
  // message this process does not have is 404 err_result_not_found at once (nothing to wait for).
  app.get<{ Params: { pid: string; msgid: string }; Querystring: { wait?: string } }>(
    "/result/:pid/:msgid",
    async (req) => {
      const wait = parseWaitMs(req.query.wait);
      const at = await store.locate(req.params.msgid);
      if (!at || at.pid !== req.params.pid) {
        if (wait <= 0) return null;
        throw new ProtocolError(
          "err_result_not_found",
          `process ${req.params.pid} has no message ${req.params.msgid} on this node`,
        );
      }
      return (await node.results.read(req.params.msgid, wait)) ?? null;
    },
  );

  registerAoRoutes(app, node);
  registerGraphql(app, { store, extraItem: opts.extraItem, refresh: opts.refreshIndex });

  app.get<{ Params: { msgid: string } }>("/message/:msgid", async (req) => {
    const at = await store.locate(req.params.msgid);
    return at ? await store.messageByNonce(at.pid, at.nonce) : null;
  });

  app.get<{ Params: { pid: string; nonce: string } }>(
    "/messageByNonce/:pid/:nonce",
    async (req, reply) => {
      const item = await store.messageByNonce(req.params.pid, nonceParam(req.params.nonce));
      return item ?? reply.code(404).send(null);
    },
  );

  app.get<{ Params: { pid: string; nonce: string } }>(
    "/assignmentByNonce/:pid/:nonce",
    async (req, reply) => {
      const item = await store.assignmentByNonce(req.params.pid, nonceParam(req.params.nonce));
      return item ?? reply.code(404).send(null);
    },
  );

  app.get<{ Params: { msgid: string } }>("/assignmentByMessage/:msgid", async (req) => {
    const at = await store.locate(req.params.msgid);
    return at ? await store.assignmentByNonce(at.pid, at.nonce) : null;
  });

  app.get<{ Params: { pid: string } }>("/nonce/:pid", async (req) => store.nonce(req.params.pid));

  app.get("/info", async () => {
    const info = node.info();
    return { ...info, Node: { ...(info.Node as object), ...opts.nodeInfo } };
  });

  // A bare JSON string, as upstream serves it (fastify would send a string as plain text).
  app.get<{ Params: { pid: string; key: string } }>("/cache/:pid/:key", async (req, reply) =>
    reply
      .type("application/json")
      .send(JSON.stringify(await store.cache(req.params.pid, req.params.key))),
  );

  app.get("/modules", async () => opts.vms.formats());

  // joinNetwork's reachability check: GET the given URL (http/https only, 3 s).
  app.get<{ Querystring: { url?: string } }>("/callback", async (req, reply) => {
    const url = req.query.url ?? "";
    if (!/^https?:\/\//.test(url)) return bad(reply, "err_callback_failed");
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch(() => null);
    return res?.ok ? { message: "ok" } : bad(reply, "err_callback_failed");
  });

  app.post("/trysend", async (req, reply) => {
    const body = (jsonBody(req.body) ?? {}) as { pid?: string; target?: string };
    if (!body.pid || !body.target) return bad(reply, "err_invalid_params");
    node.remoteOutbox.trySend(body.pid, body.target);
    return reply.code(200).send();
  });

  app.get("/nodes", async () => node.registry()?.nodes() ?? null);
  app.get<{ Params: { accid: string } }>(
    "/node/:accid",
    async (req) => node.registry()?.nodes()[req.params.accid] ?? null,
  );
  app.get<{ Params: { pid: string } }>(
    "/nodesByProcess/:pid",
    async (req) => node.registry()?.nodesOf(req.params.pid) ?? null,
  );
  app.get<{ Params: { accid: string } }>(
    "/processes/:accid",
    async (req) => node.registry()?.processesOf(req.params.accid) ?? null,
  );

  // Balances are big integers: sent as bare JSON numbers, digit for digit.
  const amount =
    (kind: "balanceOf" | "stakeOf") =>
    async (req: { params: { accid: string } }, reply: FastifyReply) => {
      const token = node.token();
      const value = token ? token[kind](req.params.accid).toString() : "null";
      return reply.type("application/json").send(value);
    };
  for (const path of ["/balanceOf/:accid", "/balanceof/:accid"])
    app.get<{ Params: { accid: string } }>(path, amount("balanceOf"));
  for (const path of ["/stakeOf/:accid", "/stakeof/:accid"])
    app.get<{ Params: { accid: string } }>(path, amount("stakeOf"));

  app.get<{ Params: { mid: string } }>("/module/:mid", async (req, reply) => {
    try {
      const m = await opts.modules.get(req.params.mid);
      return m;
    } catch {
      return bad(reply, "err_not_found_mod");
    }
  });

  return app;
}
