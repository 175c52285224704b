// One AO process in this Node process: a WebAssembly module run by AO's own loader
// (@permaweb/ao-loader, the package AO's compute unit uses), whose linear memory is the process's
// whole state. Code here runs inside the runtime container (and in-process in benchmarks).
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { gunzipSync, gzipSync } from "node:zlib";

/** The loader format of vmdocker's own Lua module (Emscripten 3.1.x, AO's second format). */
export const AO_MODULE_FORMAT = "wasm32-unknown-emscripten2";
/** The checkpoint format of an AO process: its memory, gzipped, plus a few fields. */
export const AO_STATE_FORMAT = "vmdocker.ao.v1";

export interface AoTag {
  name: string;
  value: string;
}

/** A message as AO's compute unit hands it to a module (the loader's `Message`). */
export interface AoMessage {
  Id: string;
  Owner: string;
  From: string;
  Target: string;
  Tags: AoTag[];
  Data: string;
  Timestamp: string;
  Nonce: string;
  "Block-Height": string;
  Module: string;
  Cron: boolean;
  "Read-Only"?: boolean;
}

/** The loader's environment: the process and its module. */
export interface AoEnv {
  Process: { Id: string; Owner: string; Tags: AoTag[] };
  Module: { Id: string; Owner: string; Tags: AoTag[] };
}

/** What a module answers for one message (AO's result shape). */
export interface AoOutcome {
  Output: unknown;
  Messages: { Target: string; Data?: string; Anchor?: string; Tags: AoTag[] }[];
  Spawns: { Data?: string; Anchor?: string; Tags: AoTag[] }[];
  Assignments: { Processes: string[]; Message: string }[];
  Error?: string;
}

type LoaderHandle = (
  memory: ArrayBufferView | ArrayBuffer | null,
  msg: AoMessage,
  env: AoEnv,
) => Promise<Omit<AoOutcome, "Error"> & { Memory: ArrayBuffer | Uint8Array; Error?: unknown }>;
type Loader = (binary: Uint8Array, options: Record<string, unknown>) => Promise<LoaderHandle>;

export interface AoModuleOptions {
  /** A loader format (AO_LOADER_FORMATS). */
  format: string;
  /**
   * Bytes (AO's Memory-Limit). The loader does not cap the heap itself, so a message after which
   * the memory is larger fails, and the process evaluates nothing more (as after a trap).
   */
  memoryLimit?: number;
  /** AO's Compute-Limit (the metered formats count gas against it). */
  computeLimit?: number;
}

let loader: Loader | undefined;
function aoLoader(): Loader {
  // AO_LOADER: the loader's file inside the image; otherwise the npm package.
  loader ??= createRequire(import.meta.url)(
    process.env.AO_LOADER ?? "@permaweb/ao-loader",
  ) as Loader;
  return loader;
}

/**
 * The loader's emscripten glue replaces Date.now, performance.now, process.hrtime and Math.random
 * with deterministic counters for the whole Node process when it loads a module, and swaps
 * Math.random and console.log during each call (restoring them only when the call succeeds). The
 * runtime server needs the real ones: put them back after every loader call.
 */
// The real ones, taken before any loader code ran (calls may overlap, so each restores these).
const REAL = {
  now: Date.now,
  perf: performance.now.bind(performance),
  hrtime: process.hrtime,
  random: Math.random,
  log: console.log,
};

async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } finally {
    Date.now = REAL.now;
    performance.now = REAL.perf;
    process.hrtime = REAL.hrtime;
    Math.random = REAL.random;
    console.log = REAL.log;
  }
}

/** The process's memory between messages: sha256 (hex) and size, for checks and replays. */
export interface MemoryDigest {
  sha256: string;
  bytes: number;
}

/** Thrown when a module answered with AO's `Error` (a handler failed); the memory moved on. */
export class AoEvaluationError extends Error {
  constructor(readonly text: string) {
    super(text);
    this.name = "AoEvaluationError";
  }
}

/**
 * A running AO process: one loader instance and its memory. `evaluate` applies a message and keeps
 * the new memory; `snapshot`/`fromSnapshot` are the checkpoint (gzipped memory); `dryRun` evaluates
 * on a copy of the memory in a second instance and leaves this one untouched.
 */
export class AoProcess {
  private handle?: LoaderHandle;
  /** Memory to load at the next evaluation (after a restore), else null: the instance keeps its own. */
  private pending: Uint8Array | null = null;
  private memory: Uint8Array | null = null;
  private spare?: LoaderHandle;
  private trapped?: string;

  constructor(
    private readonly wasm: Uint8Array,
    private readonly options: AoModuleOptions,
  ) {}

  private async instance(): Promise<LoaderHandle> {
    return guarded(() =>
      aoLoader()(this.wasm, {
        format: this.options.format,
        inputEncoding: "JSON-1",
        outputEncoding: "JSON-1",
        memoryLimit: String(this.options.memoryLimit ?? 524_288_000),
        computeLimit: String(this.options.computeLimit ?? 9e12),
        extensions: [],
        // The memory is read in place (no copy per message); snapshots copy it.
        UNSAFE_MEMORY: true,
      }),
    );
  }

  /** Applies one message; throws AoEvaluationError when the module answers with an Error. */
  async evaluate(msg: AoMessage, env: AoEnv): Promise<AoOutcome> {
    if (this.trapped)
      throw new Error(
        `the module failed earlier (${this.trapped}); restore the process from a checkpoint`,
      );
    this.handle ??= await this.instance();
    const handle = this.handle;
    let res;
    try {
      res = await guarded(() => handle(this.pending, msg, env));
    } catch (err) {
      // The module itself failed (a trap, or the library's own error): its memory is in an unknown
      // state, so it evaluates nothing more. The same message fails the same way on a replay.
      this.trapped = err instanceof Error ? err.message : String(err);
      throw new AoEvaluationError(`the module failed: ${this.trapped}`);
    }
    this.pending = null;
    this.memory = asBytes(res.Memory);
    const over = this.overLimit(this.memory);
    if (over) {
      this.trapped = over;
      throw new AoEvaluationError(over);
    }
    return outcome(res);
  }

  /** Evaluates on a copy of the current memory; this process's memory is left as it was. */
  async dryRun(msg: AoMessage, env: AoEnv): Promise<AoOutcome> {
    this.spare ??= await this.instance();
    const spare = this.spare;
    const start = this.pending ?? (this.memory ? Uint8Array.from(this.memory) : null);
    if (!start) {
      // Nothing evaluated yet: a fresh instance is the state (and the spare is used up).
      this.spare = undefined;
      return this.withinLimit(await guarded(() => spare(null, msg, env)));
    }
    return this.withinLimit(await guarded(() => spare(start, msg, env)));
  }

  /** Why a memory of this size breaks the module's Memory-Limit, or null. */
  private overLimit(memory: Uint8Array): string | null {
    const limit = this.options.memoryLimit;
    if (!limit || memory.byteLength <= limit) return null;
    return `the process's memory grew to ${memory.byteLength} bytes, past its module's Memory-Limit of ${limit} bytes`;
  }

  private withinLimit(res: Awaited<ReturnType<LoaderHandle>>): AoOutcome {
    const over = this.overLimit(asBytes(res.Memory));
    if (over) throw new AoEvaluationError(over);
    return outcome(res);
  }

  /** The current memory's digest (null before the first message). */
  digest(): MemoryDigest | null {
    const mem = this.pending ?? this.memory;
    if (!mem) return null;
    return { sha256: createHash("sha256").update(mem).digest("hex"), bytes: mem.byteLength };
  }

  /** The checkpoint: `{format, memory: base64(gzip(memory)), sha256, bytes}` as JSON. */
  snapshot(extra: Record<string, unknown> = {}): string {
    const mem = this.pending ?? this.memory;
    const digest = this.digest();
    return JSON.stringify({
      format: AO_STATE_FORMAT,
      ...extra,
      memory: mem ? gzipSync(mem, { level: 1 }).toString("base64") : null,
      sha256: digest?.sha256 ?? null,
      bytes: digest?.bytes ?? 0,
    });
  }

  /** A process from its checkpoint: the memory is loaded at the next evaluation (no replay). */
  static fromSnapshot(
    wasm: Uint8Array,
    options: AoModuleOptions,
    state: string,
  ): { process: AoProcess; extra: Record<string, unknown> } {
    const parsed = JSON.parse(state) as Record<string, unknown>;
    if (parsed.format !== AO_STATE_FORMAT)
      throw new Error(`the state is not an ${AO_STATE_FORMAT} checkpoint`);
    const p = new AoProcess(wasm, options);
    if (typeof parsed.memory === "string") {
      const mem = new Uint8Array(gunzipSync(Buffer.from(parsed.memory, "base64")));
      const sha = createHash("sha256").update(mem).digest("hex");
      if (parsed.sha256 && sha !== parsed.sha256)
        throw new Error(`the checkpoint's memory does not match its sha256 (${sha})`);
      p.pending = mem;
    }
    const { format: _f, memory: _m, sha256: _s, bytes: _b, ...extra } = parsed;
    return { process: p, extra };
  }
}

function asBytes(m: ArrayBuffer | Uint8Array): Uint8Array {
  return m instanceof Uint8Array ? m : new Uint8Array(m);
}

function outcome(res: Awaited<ReturnType<LoaderHandle>>): AoOutcome {
  if (res.Error !== undefined && res.Error !== null && res.Error !== "") {
    throw new AoEvaluationError(
      typeof res.Error === "string" ? res.Error : JSON.stringify(res.Error),
    );
  }
  return {
    Output: res.Output ?? "",
    Messages: res.Messages ?? [],
    Spawns: res.Spawns ?? [],
    Assignments: res.Assignments ?? [],
  };
}
