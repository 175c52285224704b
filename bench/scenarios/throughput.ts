import { RESULT_READ, runtimeURL, spawnProcess, type BenchContext } from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, summarize } from "../lib/stats.js";

/** Messages in flight at once, in both paths. */
const IN_FLIGHT = 16;

/**
 * msg/s through `processes` processes (`total` messages spread evenly, 16 in flight, each until
 * its result is readable) against as many direct applies to the same containers, interleaved.
 */
async function measure(ctx: BenchContext, processes: number, total: number) {
  const node = await ctx.node();
  const pids: string[] = [];
  for (let i = 0; i < processes; i++) pids.push(await spawnProcess(node, ctx.module.id));
  const urls = await Promise.all(pids.map((p) => runtimeURL(ctx.docker, `hymatrix_${p}`)));
  const perProcess = Math.ceil(total / processes);
  const rounds = ctx.quick ? 2 : 5;
  const load = ctx.load();
  await load.ask({ cmd: "prepare", pids, count: perProcess * (rounds + 1) });
  const url = node.running.url;
  const many = () =>
    load.ask({ cmd: "node-many", url, pids, perProcess, inFlight: IN_FLIGHT, read: RESULT_READ });
  const direct = () => load.ask({ cmd: "direct-many", urls, perProcess, inFlight: IN_FLIGHT });
  await many(); // warms connections, VMs and the store
  await direct();
  return interleaved(rounds, many, direct);
}

export const throughputScenario: Scenario = {
  name: "throughput",
  describe:
    "messages/s through one process and through many at once (16 in flight), vs direct applies (both from the load generator's process)",
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
        baselineLabel: `direct POST /vmm/apply, ${IN_FLIGHT} in flight`,
      });
    }
  },
};
