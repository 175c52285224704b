// The `ao` runtime: a hymx process whose state is an AO WebAssembly module's memory. Messages from
// the node (hymx Meta) become AO messages, AO's answer (Output, Messages, Spawns, Assignments)
// becomes the hymx Result. Runs inside vmdocker/runtime-ao.
import { readFileSync } from "node:fs";
import { aoModuleTagProblem, parseMemoryLimit } from "./ao-formats.js";
import {
  AO_MODULE_FORMAT,
  AoEvaluationError,
  AoProcess,
  type AoEnv,
  type AoMessage,
  type AoModuleOptions,
  type AoOutcome,
  type AoTag,
} from "./ao-process.js";
import {
  RuntimeAnswerError,
  type Meta,
  type Runtime,
  type RuntimeFactory,
  type RuntimeResult,
} from "./runtime.js";

/** Where the image keeps vmdocker's own module (Lua 5.3 + the AO process library). */
const DEFAULT_WASM = "/app/ao/process.wasm";

/** The part of hymx's Env the runtime reads (the spawn and restore bodies carry it). */
interface HymxEnv {
  Meta?: { Pid?: string; "Item-Id"?: string; "Acc-Id"?: string; Data?: string; Timestamp?: number };
  Process?: { Module?: string; Scheduler?: string; "From-Process"?: string; Tags?: AoTag[] | null };
  Module?: Record<string, unknown> & { Tags?: AoTag[] | null };
}

const str = (v: unknown) =>
  typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
const tag = (name: string, value: string): AoTag => ({ name, value });

/** The module's tags as AO's env shows them (its fields first, then its extension tags). */
function moduleTags(mod: HymxEnv["Module"]): AoTag[] {
  const out: AoTag[] = [tag("Data-Protocol", "ao"), tag("Type", "Module")];
  for (const k of [
    "Module-Format",
    "Memory-Limit",
    "Compute-Limit",
    "Input-Encoding",
    "Output-Encoding",
  ]) {
    const v = str(mod?.[k]);
    if (v) out.push(tag(k, v));
  }
  return [...out, ...(mod?.Tags ?? [])];
}

/** The process's identity, built once from the spawn: AO's env and the spawn message itself. */
export function aoEnvironment(env: HymxEnv, spawnTags: AoTag[]): { env: AoEnv; spawn: AoMessage } {
  const pid = str(env.Meta?.Pid);
  const owner = str(env.Meta?.["Acc-Id"]);
  const moduleId = str(env.Process?.Module);
  const fromProcess = str(env.Process?.["From-Process"]);
  const processTags: AoTag[] = [
    tag("Data-Protocol", "ao"),
    tag("Variant", "ao.TN.1"),
    tag("Type", "Process"),
    tag("Module", moduleId),
    tag("Scheduler", str(env.Process?.Scheduler)),
    ...(fromProcess ? [tag("From-Process", fromProcess)] : []),
    ...spawnTags,
  ];
  const aoEnv: AoEnv = {
    Process: { Id: pid, Owner: owner, Tags: processTags },
    Module: { Id: moduleId, Owner: "", Tags: moduleTags(env.Module) },
  };
  const spawn: AoMessage = {
    Id: pid,
    Owner: owner,
    From: fromProcess || owner,
    Target: pid,
    Tags: processTags,
    Data: Buffer.from(str(env.Meta?.Data), "base64url").toString("utf8"),
    Timestamp: String(env.Meta?.Timestamp ?? 0),
    Nonce: "0",
    "Block-Height": "0",
    Module: moduleId,
    Cron: false,
  };
  return { env: aoEnv, spawn };
}

/** hymx's Meta (and its Params) as AO's message: the item's tags rebuilt around the params. */
export function aoMessage(
  from: string,
  meta: Meta,
  params: Record<string, string>,
  moduleId: string,
): AoMessage {
  const m = meta as Meta & Record<string, unknown>;
  const tags: AoTag[] = [
    tag("Data-Protocol", "ao"),
    tag("Variant", "ao.TN.1"),
    tag("Type", "Message"),
  ];
  if (str(m.Action)) tags.push(tag("Action", str(m.Action)));
  if (str(m["From-Process"])) tags.push(tag("From-Process", str(m["From-Process"])));
  if (str(m["Pushed-For"])) tags.push(tag("Pushed-For", str(m["Pushed-For"])));
  for (const [name, value] of Object.entries(params))
    if (name !== "Data") tags.push(tag(name, value));
  const data =
    typeof m.Data === "string"
      ? Buffer.from(m.Data, "base64url").toString("utf8")
      : (params.Data ?? "");
  const owner = str(m["Acc-Id"]);
  return {
    Id: str(m["Item-Id"]),
    Owner: owner,
    From: from || str(m["From-Process"]) || owner,
    // An assigned message keeps its own Target (another process): AO's mark of an assignment.
    Target: str(m.Target) || str(m.Pid),
    Tags: tags,
    Data: data,
    Timestamp: String(m.Timestamp ?? 0),
    Nonce: String(m.Nonce ?? 0),
    "Block-Height": "0",
    Module: moduleId,
    Cron: false,
  };
}

/** AO's answer as hymx's Result. Output stays AO's (`{data, prompt, print}`); Data is its text. */
export function hymxResult(out: AoOutcome): RuntimeResult {
  const output = out.Output as { data?: unknown } | string | undefined;
  const text =
    typeof output === "string" ? output : typeof output?.data === "string" ? output.data : "";
  return {
    Messages: out.Messages.map((m) => ({
      Target: m.Target,
      Data: str(m.Data),
      Tags: m.Tags ?? [],
    })),
    Spawns: out.Spawns.map((s) => ({ Data: str(s.Data), Tags: s.Tags ?? [] })),
    Assignments: out.Assignments,
    Output: out.Output,
    Data: text,
    Cache: null,
    Error: null,
  };
}

function spawnTagList(tags: Record<string, string>, request?: Record<string, unknown>): AoTag[] {
  const list = request?.tags;
  if (Array.isArray(list))
    return list
      .filter((t): t is AoTag => !!t && typeof (t as AoTag).name === "string")
      .map((t) => tag(t.name, str(t.value)));
  return Object.entries(tags).map(([name, value]) => tag(name, value));
}

/**
 * The module the process runs: the WASM a user brought in the module's data (the node sends it
 * as base64 `module_data` in the spawn and restore bodies; its Module-Format and limits are the
 * module's tags), else vmdocker's own Lua module (AO_WASM in the image). Throws a one-line reason
 * when the module's tags cannot run here.
 */
function moduleOptions(
  env: AoEnv,
  request?: Record<string, unknown>,
): { wasm: Uint8Array; options: AoModuleOptions } {
  const get = (name: string) => env.Module.Tags.find((t) => t.name === name)?.value ?? "";
  const options = {
    memoryLimit: parseMemoryLimit(get("Memory-Limit")),
    computeLimit: Number(get("Compute-Limit")) || undefined,
  };
  const data = request?.module_data;
  if (typeof data !== "string" || data === "")
    return {
      wasm: readFileSync(process.env.AO_WASM ?? DEFAULT_WASM),
      options: { format: process.env.AO_WASM_FORMAT ?? AO_MODULE_FORMAT, ...options },
    };
  const problem = aoModuleTagProblem(get);
  if (problem) throw new Error(problem);
  return {
    wasm: Buffer.from(data, "base64"),
    options: { format: get("Module-Format"), ...options },
  };
}

function answer(err: unknown): never {
  if (err instanceof AoEvaluationError) throw new RuntimeAnswerError(err.text);
  throw err;
}

/**
 * `RUNTIME_TYPE=ao`: spawn evaluates the spawn message (AO's `_boot` and first state), each apply
 * evaluates one message, checkpoint is the gzipped memory (`vmdocker.ao.v1`), restore loads it
 * (no replay), dryrun evaluates on a copy.
 */
export const aoRuntime: RuntimeFactory = async ({ tags, state, request }) => {
  const hymxEnv = (request?.env ?? {}) as HymxEnv;
  const { env, spawn } = aoEnvironment(hymxEnv, spawnTagList(tags, request));
  const { wasm, options } = moduleOptions(env, request);
  const moduleId = env.Process.Tags.find((t) => t.name === "Module")?.value ?? "";
  let proc: AoProcess;
  let spawnResult: RuntimeResult | undefined;
  if (state) {
    proc = AoProcess.fromSnapshot(wasm, options, state).process;
  } else {
    proc = new AoProcess(wasm, options);
    try {
      spawnResult = hymxResult(await proc.evaluate(spawn, env));
    } catch (err) {
      // A failing On-Boot does not stop the process (as in AO); the spawn result says why.
      if (!(err instanceof AoEvaluationError)) throw err;
      spawnResult = {
        ...hymxResult({ Output: err.text, Messages: [], Spawns: [], Assignments: [] }),
      };
    }
  }
  const runtime: Runtime = {
    spawnResult,
    async apply(from, meta, params) {
      try {
        return hymxResult(await proc.evaluate(aoMessage(from, meta, params, moduleId), env));
      } catch (err) {
        return answer(err);
      }
    },
    async dryRun(from, meta, params) {
      const msg = { ...aoMessage(from, meta, params, moduleId), "Read-Only": true };
      try {
        return hymxResult(await proc.dryRun(msg, env));
      } catch (err) {
        return answer(err);
      }
    },
    async checkpoint() {
      return proc.snapshot({ process: env.Process.Id });
    },
    publicState() {
      return runtime.checkpoint();
    },
  };
  return runtime;
};
