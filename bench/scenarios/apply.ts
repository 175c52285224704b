import { callRuntime } from "../../src/runtime/backends/runtime-call.js";
import { applyBody, runtimeURL, sendMessage, spawnProcess } from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, summarize } from "../lib/stats.js";

export const applyScenario: Scenario = {
  name: "apply",
  describe:
    "one signed message through the node until its result is readable, vs POST /vmm/apply to the same container",
  async run(ctx, emit) {
    const node = await ctx.node();
    const pid = await spawnProcess(node, ctx.module.id);
    const url = await runtimeURL(ctx.docker, `hymatrix_${pid}`);
    await sendMessage(node, pid);
    const s = await interleaved(
      ctx.quick ? 20 : 100,
      async () => {
        const t = now();
        await sendMessage(node, pid);
        return now() - t;
      },
      async (n) => {
        const t = now();
        const res = await callRuntime(url, "apply", applyBody(pid, n));
        if (res.status !== 200) throw new Error(`direct apply: ${res.text}`);
        return now() - t;
      },
    );
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
