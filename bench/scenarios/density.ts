import { freemem } from "node:os";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { parseArgv } from "../../src/vm/vmdocker/spec.js";
import { runRaw, spawnProcess } from "../lib/context.js";
import { containerMemory } from "../lib/memory.js";
import type { Scenario } from "../lib/scenario.js";
import { summarize } from "../lib/stats.js";

const MB = 2 ** 20;
/** What one idle process may take at most, with room to spare, before N is too many for this machine. */
const BUDGET_PER_PROCESS = 60 * MB;

const settle = () => new Promise((r) => setTimeout(r, 2000));

export const densityScenario: Scenario = {
  name: "density",
  describe:
    "N idle processes: memory per container and node RSS growth per process, vs N idle raw containers",
  async run(ctx, emit) {
    const sizes = ctx.quick ? [5] : [10, 50, 100];
    for (const n of sizes) {
      if (n * 2 * BUDGET_PER_PROCESS > freemem()) {
        ctx.log(`density: N=${n} skipped, ${(freemem() / MB).toFixed(0)} MB free`);
        continue;
      }
      const node = await ctx.node();
      await spawnProcess(node, ctx.module.id).then((pid) => node.running.node.stopProcess(pid));
      const rssBefore = process.memoryUsage().rss;
      const pids: string[] = [];
      for (let i = 0; i < n; i++) pids.push(await spawnProcess(node, ctx.module.id));
      await settle();
      const rssGrowth = (process.memoryUsage().rss - rssBefore) / n;
      const ours = await Promise.all(pids.map((p) => containerMemory(ctx.docker, `hymatrix_${p}`)));
      await node.running.close();

      const raws = [];
      for (let i = 0; i < n; i++)
        raws.push(
          await runRaw(ctx.docker, IMAGES["runtime-test"], parseArgv(RUNTIME_START_COMMAND)),
        );
      await settle();
      const base = await Promise.all(raws.map((r) => containerMemory(ctx.docker, r.id)));
      await Promise.all(raws.map((r) => ctx.docker.removeContainer(r.id, { force: true })));

      emit({
        scenario: "density",
        metric: `memory per process, N=${n}`,
        unit: "MB",
        better: "lower",
        ours: summarize(ours.map((b) => b / MB)),
        baseline: summarize(base.map((b) => b / MB)),
        baselineLabel: "idle raw container of the same image",
      });
      emit({
        scenario: "density",
        metric: `node RSS growth per process, N=${n}`,
        unit: "MB",
        better: "lower",
        ours: summarize([rssGrowth / MB]),
        note: "node runs in the harness process",
      });
    }
  },
};
