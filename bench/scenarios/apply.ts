import { RESULT_READ, runtimeURL, spawnProcess } from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, summarize } from "../lib/stats.js";

export const applyScenario: Scenario = {
  name: "apply",
  describe:
    "one signed message through the node until its result is readable, vs POST /vmm/apply to the same container (both from the load generator's process)",
  async run(ctx, emit) {
    const node = await ctx.node();
    const pid = await spawnProcess(node, ctx.module.id);
    const runtime = await runtimeURL(ctx.docker, `hymatrix_${pid}`);
    const rounds = ctx.quick ? 20 : 100;
    const load = ctx.load();
    await load.ask({ cmd: "prepare", pids: [pid], count: rounds + 1 });
    const one = () => load.ask({ cmd: "node-one", url: node.running.url, pid, read: RESULT_READ });
    await one(); // the first message warms the connections
    await load.ask({ cmd: "direct-one", url: runtime });
    const s = await interleaved(rounds, one, () => load.ask({ cmd: "direct-one", url: runtime }));
    emit({
      scenario: "apply",
      metric: "one message",
      unit: "ms",
      better: "lower",
      ours: summarize(s.ours),
      baseline: summarize(s.baseline),
      baselineLabel: "direct POST /vmm/apply",
    });
  },
};
