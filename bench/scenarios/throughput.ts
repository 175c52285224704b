import { callRuntime } from "../../src/runtime/backends/runtime-call.js";
import {
  applyBody,
  messageData,
  poll,
  runtimeURL,
  spawnProcess,
  type BenchContext,
  type BenchNode,
} from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, summarize } from "../lib/stats.js";

const CONCURRENCY = 16;

/** Runs `jobs` with at most CONCURRENCY (16) in flight. */
export async function bounded(jobs: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, worker));
}

/** Messages per second: `perProcess` messages to each process, submitted 16 at a time, until every result is readable. */
async function throughNode(node: BenchNode, pids: string[], perProcess: number) {
  const t = now();
  const sent: [string, string][] = [];
  await bounded(
    pids.flatMap((pid) =>
      Array.from({ length: perProcess }, () => async () => {
        sent.push([pid, await node.client.message({ pid, action: "Echo", data: messageData() })]);
      }),
    ),
  );
  // One reader per process, every 5 ms, so reading results does not load the node more than the
  // messages do.
  await Promise.all(
    pids.map(async (pid) => {
      for (const [p, id] of sent)
        if (p === pid) await poll(() => node.client.result(pid, id), `message ${id}`, 5);
    }),
  );
  return (pids.length * perProcess) / ((now() - t) / 1000);
}

async function direct(urls: string[], perProcess: number) {
  const t = now();
  let n = 0;
  await bounded(
    urls.flatMap((url) =>
      Array.from({ length: perProcess }, () => async () => {
        const res = await callRuntime(url, "apply", applyBody("bench", n++));
        if (res.status !== 200) throw new Error(`direct apply: ${res.text}`);
      }),
    ),
  );
  return (urls.length * perProcess) / ((now() - t) / 1000);
}

async function measure(ctx: BenchContext, processes: number, total: number) {
  const node = await ctx.node();
  const pids: string[] = [];
  for (let i = 0; i < processes; i++) pids.push(await spawnProcess(node, ctx.module.id));
  const urls = await Promise.all(pids.map((p) => runtimeURL(ctx.docker, `hymatrix_${p}`)));
  const per = Math.ceil(total / processes);
  return interleaved(
    ctx.quick ? 2 : 5,
    () => throughNode(node, pids, per),
    () => direct(urls, per),
  );
}

export const throughputScenario: Scenario = {
  name: "throughput",
  describe:
    "messages/s through one process and through many at once (16 in flight), vs direct applies",
  async run(ctx, emit) {
    const total = ctx.quick ? 64 : 480;
    for (const processes of [1, ctx.quick ? 4 : 16]) {
      const s = await measure(ctx, processes, total);
      emit({
        scenario: "throughput",
        metric: `${processes} process${processes > 1 ? "es" : ""}`,
        unit: "msg/s",
        better: "higher",
        ours: summarize(s.ours),
        baseline: summarize(s.baseline),
        baselineLabel: "direct POST /vmm/apply, 16 in flight",
      });
    }
  },
};
