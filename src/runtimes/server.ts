// The in-instance side of the /vmm protocol (vmdocker_agent's server): POST-only routes on :8080,
// case-insensitive JSON keys, `result` as a JSON string, failures as HTTP 400.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import {
  RuntimeAnswerError,
  type Caller,
  type Meta,
  type Runtime,
  type RuntimeDefinition,
  type Tag,
} from "./runtime.js";
import { allowedSenders, refusal } from "./access.js";
import { aoRuntime } from "./ao-runtime.js";
import { OPENCLAW_ACCESS } from "./openclaw-access.js";
import { openclawRuntime } from "./openclaw-runtime.js";
import { testRuntime } from "./test-runtime.js";

/**
 * The runtimes this server can run, by `RUNTIME_TYPE`. The test runtime is open to anyone; an AO
 * process checks its senders itself (its handlers see `From` and `Owner`).
 */
export const RUNTIMES: Readonly<Record<string, RuntimeDefinition>> = {
  test: { create: testRuntime },
  openclaw: { create: openclawRuntime, access: OPENCLAW_ACCESS },
  ao: { create: aoRuntime },
};

/** Go's JSON decoding matches keys case-insensitively: `meta`, `Meta` and `META` are one key. */
function field(obj: unknown, name: string): unknown {
  if (!obj || typeof obj !== "object") return undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function tagMap(tags: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(tags))
    for (const t of tags as Tag[])
      if (t && typeof t.name === "string") out[t.name] = String(t.value ?? "");
  return out;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  return text ? JSON.parse(text) : {};
}

const text = (v: unknown) => (typeof v === "string" ? v : "");

/**
 * The `/vmm/*` server of one process. Beyond upstream it keeps the process owner (`owner` of
 * /vmm/spawn and /vmm/restore, else the env's Acc-Id) and the spawn's Allowed-Senders, and checks
 * each message against the runtime's access rules: `/vmm/apply`'s sender is its `from` (the node
 * derives it from signatures); `/vmm/dryrun` has no sender at all.
 */
export function createRuntimeServer(
  runtimeType: string,
  runtimes: Readonly<Record<string, RuntimeDefinition>> = RUNTIMES,
) {
  let runtime: Runtime | null = null;
  let owner = "";
  let allowed: "*" | string[] = [];
  const definition = runtimes[runtimeType];
  const make = (body: unknown, state?: string) => {
    if (!definition) throw new Error(`runtime type not supported: ${runtimeType}`);
    const tags = tagMap(field(body, "tags"));
    owner = text(field(body, "owner")) || text(field(field(field(body, "env"), "meta"), "Acc-Id"));
    allowed = allowedSenders(tags);
    const request = body && typeof body === "object" ? (body as Record<string, unknown>) : {};
    return definition.create({ tags, state, request });
  };
  /**
   * One message (apply or dry-run) past the access rules, then the runtime: its Result as a JSON
   * string, or upstream's error text.
   */
  const applyOne = async (
    rt: Runtime,
    body: unknown,
    dryRun: boolean,
  ): Promise<{ result: string } | { error: string }> => {
    const meta = (field(body, "meta") ?? {}) as Meta;
    const params = (field(body, "params") ?? field(meta, "Params") ?? {}) as Record<string, string>;
    const from = String(field(body, "from") ?? "");
    const caller: Caller = dryRun
      ? { owner, sender: "", signer: "", dryRun }
      : { owner, sender: from, signer: text(field(meta, "Acc-Id")), dryRun };
    if (dryRun && !rt.dryRun)
      return {
        error: `err_dry_run_unsupported: the ${runtimeType} runtime cannot evaluate without effects`,
      };
    const refused = refusal(definition?.access, caller, allowed, meta, params);
    if (refused) return { error: refused };
    try {
      const result = dryRun
        ? await rt.dryRun!(from, meta, params, caller)
        : await rt.apply(from, meta, params, caller);
      return { result: JSON.stringify(result) };
    } catch (err) {
      if (err instanceof RuntimeAnswerError) return { error: err.message };
      return {
        error: `${dryRun ? "dry-run" : "apply"} failed: runtime apply failed: ${(err as Error).message}`,
      };
    }
  };
  const run = async (res: ServerResponse, body: unknown, dryRun: boolean) => {
    if (!runtime) return send(res, 400, { status: "error", msg: "runtime is nil" });
    const out = await applyOne(runtime, body, dryRun);
    return "error" in out ? send(res, 400, out) : send(res, 200, { status: "ok", ...out });
  };
  return createServer(async (req, res) => {
    if (req.method === "OPTIONS") {
      res.writeHead(204, {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "POST, OPTIONS, GET, PUT",
      });
      return res.end();
    }
    if (req.method !== "POST") return send(res, 404, { error: "not found" });
    let body: unknown;
    try {
      body = await readJson(req);
    } catch (err) {
      return send(res, 400, { error: `invalid JSON: ${(err as Error).message}` });
    }
    try {
      switch (req.url) {
        case "/vmm/health":
          return send(res, 200, { status: "ok" });
        case "/vmm/spawn":
          if (runtime) return send(res, 400, { status: "error", msg: "runtime is not nil" });
          try {
            runtime = await make(body);
          } catch (err) {
            return send(res, 400, { error: `create runtime failed: ${(err as Error).message}` });
          }
          return send(res, 200, {
            status: "ok",
            ...(runtime.spawnResult ? { result: JSON.stringify(runtime.spawnResult) } : {}),
          });
        case "/vmm/apply":
          return await run(res, body, false);
        case "/vmm/dryrun":
          return await run(res, body, true);
        case "/vmm/apply-batch": {
          // vmdocker's extension: several applies in one request, in order, each answered as
          // /vmm/apply would (its result, or its error); the node falls back to /vmm/apply on 404.
          if (!runtime) return send(res, 400, { status: "error", msg: "runtime is nil" });
          const items = field(body, "items");
          if (!Array.isArray(items)) return send(res, 400, { error: "items is not a list" });
          const results = [];
          for (const item of items) results.push(await applyOne(runtime, item, false));
          return send(res, 200, { status: "ok", results });
        }
        case "/vmm/state":
          // vmdocker's extension: the state for anyone to read, from runtimes that declare it public.
          if (!runtime) return send(res, 400, { status: "error", msg: "runtime is nil" });
          if (!runtime.publicState)
            return send(res, 404, { error: "err_state_not_public", status: "error" });
          return send(res, 200, { status: "ok", state: await runtime.publicState() });
        case "/vmm/checkpoint":
          if (!runtime) return send(res, 400, { status: "error", msg: "runtime is nil" });
          try {
            return send(res, 200, { status: "ok", state: await runtime.checkpoint() });
          } catch (err) {
            return send(res, 400, { error: `checkpoint failed: ${(err as Error).message}` });
          }
        case "/vmm/restore":
          if (runtime) return send(res, 400, { status: "error", msg: "runtime is not nil" });
          try {
            runtime = await make(body, String(field(body, "state") ?? ""));
          } catch (err) {
            return send(res, 400, { error: `restore runtime failed: ${(err as Error).message}` });
          }
          return send(res, 200, { status: "ok" });
        default:
          return send(res, 404, { error: "not found" });
      }
    } catch (err) {
      return send(res, 400, { error: (err as Error).message });
    }
  });
}

// Started as a program (the image's start command), not when imported by tests.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const server = createRuntimeServer(process.env.RUNTIME_TYPE ?? "test");
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.env.VMDOCKER_RUNTIME_PORT ?? 8080), "0.0.0.0");
  const stop = () => server.close(() => process.exit(0));
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}
