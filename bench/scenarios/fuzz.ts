import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { post, spawnItem, waitResult } from "../../test/helpers/client.js";
import { startEchoNode } from "../../test/helpers/child-node.js";
import { writeEchoModule } from "../../test/helpers/echo-vm.js";
import { fuzzNode } from "../../test/helpers/fuzz.js";
import type { Scenario } from "../lib/scenario.js";
import { summarize } from "../lib/stats.js";

/**
 * 100,000 mutated and hostile items (3,000 with --quick) against a node in its own process: every
 * answer must be a 400 with a code or a first acceptance, none slower than 1 s, and the node's
 * memory flat after the first third. Any failure fails the scenario (and the run).
 */
export const fuzzScenario: Scenario = {
  name: "fuzz",
  describe:
    "mutated ANS-104 items (bit flips, truncations, length fields, tag sections, re-dressed signatures) sent one at a time",
  async run(ctx, emit) {
    const count = ctx.quick ? 3_000 : 100_000;
    const base = mkdtempSync(join(ctx.base, "fuzz-"));
    const moduleId = await writeEchoModule(base);
    const node = await startEchoNode(base);
    try {
      const spawn = spawnItem(moduleId, node.address);
      await post(node.url, spawn);
      await waitResult(node.url, spawn.id, spawn.id);
      const seed = Date.now() % 2 ** 31;
      const started = performance.now();
      const report = await fuzzNode(
        {
          url: node.url,
          osPid: node.child.pid!,
          processId: spawn.id,
          moduleId,
          scheduler: node.address,
        },
        count,
        seed,
        (done) => done % 10_000 === 0 && done > 0 && ctx.log(`fuzz: ${done} of ${count}`),
      );
      const seconds = (performance.now() - started) / 1000;
      if (report.failures.length)
        throw new Error(`fuzz seed ${seed}: ${report.failures.slice(0, 5).join("; ")}`);
      if (node.child.exitCode !== null) throw new Error(`the node exited (${node.child.exitCode})`);
      ctx.log(
        `fuzz seed ${seed}: ${report.accepted} accepted, refused ${JSON.stringify(report.refused)}`,
      );
      const note = `${count} items, ${report.accepted} accepted`;
      emit({
        scenario: "fuzz",
        metric: "answer",
        unit: "ms",
        better: "lower",
        ours: summarize(report.latenciesMs),
        note,
      });
      emit({
        scenario: "fuzz",
        metric: "items per second, one at a time",
        unit: "items/s",
        better: "higher",
        ours: summarize([report.sent / seconds]),
      });
      emit({
        scenario: "fuzz",
        metric: "node memory growth after the first third",
        unit: "MB",
        better: "lower",
        ours: summarize([(report.rss.end - report.rss.afterWarmup) / 2 ** 20]),
        note: `RSS ${(report.rss.afterWarmup / 2 ** 20).toFixed(0)} → ${(report.rss.end / 2 ** 20).toFixed(0)} MB, max ${(report.rss.max / 2 ** 20).toFixed(0)}`,
      });
      const growth = report.rss.end - report.rss.afterWarmup;
      if (growth > 64 * 2 ** 20)
        throw new Error(
          `the node's memory grew by ${(growth / 2 ** 20).toFixed(0)} MB after the warm-up`,
        );
    } finally {
      node.child.kill("SIGKILL");
      rmSync(base, { recursive: true, force: true });
    }
  },
};
