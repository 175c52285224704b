import { readFileSync } from "node:fs";

/** The parts of V8's .cpuprofile (written by `node --cpu-prof`) that a budget needs. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string };
    children?: number[];
  }[];
  /** Microseconds on the monotonic clock (the one process.hrtime reads). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A stage of a message's way through the node, found by a function (and file) on the stack. */
export interface StageMarker {
  stage: string;
  fn: RegExp;
  file: RegExp;
}

/**
 * The node's stages as they show on a stack. For each sample the frame nearest the leaf that
 * matches decides, so `verify` inside `submit` counts as verify, the rest of `submit` as intake.
 */
export const STAGES: StageMarker[] = [
  { stage: "decode", fn: /^decode$/, file: /protocol\/data-item/ },
  { stage: "verify", fn: /^verify$/, file: /protocol\/data-item/ },
  { stage: "assignment signature", fn: /^assignment$/, file: /node\/(scheduler|node)\./ },
  { stage: "commit (item + assignment)", fn: /^(append|commit\w*|flush\w*)$/, file: /store\// },
  { stage: "apply call", fn: /.*/, file: /runtime-call\.|backends\/docker\./ },
  { stage: "apply call", fn: /^(apply\w*)$/, file: /vm\/vmdocker\/vm\./ },
  { stage: "result store", fn: /^saveResult\w*$/, file: /store\// },
  {
    stage: "result read",
    fn: /^(result|readResult|waitResult)$/,
    file: /store\/|node\/(http|results)\./,
  },
  { stage: "delivery", fn: /.*/, file: /node\/delivery\./ },
  { stage: "runner (read back, Meta, result)", fn: /.*/, file: /node\/runner\./ },
  { stage: "intake and scheduling (rest)", fn: /.*/, file: /node\/(intake|scheduler|node)\./ },
  { stage: "routes (rest)", fn: /.*/, file: /node\/(http|ao)\./ },
];

/** Where a sample with none of our stages on its stack goes, by its leaf frame. */
function plumbing(fn: string, url: string): string {
  if (fn === "(garbage collector)") return "garbage collection";
  if (fn === "(program)") return "V8 and native (program)";
  if (/fastify|avvio|find-my-way|light-my-request/.test(url)) return "HTTP server (fastify)";
  if (/^node:|internal\//.test(url) || url === "") return "Node internals (http, net, streams)";
  if (/better-sqlite3|ioredis/.test(url)) return "store driver";
  return "other";
}

export interface Budget {
  /** Milliseconds of main-thread time per message, by stage (idle excluded). */
  perMessageMs: Map<string, number>;
  /** Milliseconds per message by leaf function (`stage: function file`), for a closer look. */
  leaves: Map<string, number>;
  totalMs: number;
  samples: number;
}

/**
 * Main-thread time per message by stage, from the samples of `file` taken between `fromUs` and
 * `toUs` (monotonic µs) while `messages` messages went through. Idle samples are left out; time
 * blocked in a synchronous native call (an fsync inside SQLite's commit) counts for its stage.
 */
export function budgetFromProfile(
  file: string,
  fromUs: number,
  toUs: number,
  messages: number,
): Budget {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stageOf = new Map<number, string | null>();
  const classify = (id: number): string | null => {
    const hit = stageOf.get(id);
    if (hit !== undefined) return hit;
    const leaf = byId.get(id)!.callFrame;
    let stage: string | null = null;
    if (leaf.functionName === "(idle)") stage = null;
    else {
      for (let at: number | undefined = id; at !== undefined && !stage; at = parent.get(at)) {
        const f = byId.get(at)!.callFrame;
        stage = STAGES.find((s) => s.fn.test(f.functionName) && s.file.test(f.url))?.stage ?? null;
      }
      stage ??= plumbing(leaf.functionName, leaf.url);
    }
    stageOf.set(id, stage);
    return stage;
  };
  const ms = new Map<string, number>();
  const leaves = new Map<string, number>();
  let t = p.startTime;
  let samples = 0;
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < fromUs || t > toUs) continue;
    // A sample stands for the time until the next one.
    const span = (p.timeDeltas[i + 1] ?? dt) / 1000;
    const stage = classify(p.samples[i]!);
    if (!stage) continue;
    samples++;
    total += span;
    ms.set(stage, (ms.get(stage) ?? 0) + span);
    const f = byId.get(p.samples[i]!)!.callFrame;
    const leaf = `${stage}: ${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(dist|node_modules)\//, "")}`;
    leaves.set(leaf, (leaves.get(leaf) ?? 0) + span);
  }
  const perMessageMs = new Map([...ms].map(([k, v]) => [k, v / messages]));
  const perLeaf = new Map([...leaves].map(([k, v]) => [k, v / messages]));
  return { perMessageMs, leaves: perLeaf, totalMs: total / messages, samples };
}
