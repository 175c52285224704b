import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fuzzEchoNode } from "../../test/helpers/fuzz.js";
import type { Scenario } from "../lib/scenario.js";
import { summarize } from "../lib/stats.js";

const MB = 2 ** 20;

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
    const seed = Date.now() % 2 ** 31;
    const started = performance.now();
    try {
      const { report, alive } = await fuzzEchoNode(base, count, seed, (done) => {
        if (done > 0 && done % 10_000 === 0) ctx.log(`fuzz: ${done} of ${count}`);
      });
      const seconds = (performance.now() - started) / 1000;
      if (report.failures.length)
        throw new Error(`fuzz seed ${seed}: ${report.failures.slice(0, 5).join("; ")}`);
      if (!alive) throw new Error(`fuzz seed ${seed}: the node exited`);
      ctx.log(
        `fuzz seed ${seed}: ${report.accepted} accepted, refused ${JSON.stringify(report.refused)}`,
      );
      const { afterWarmup, end, max } = report.rss;
      emit({
        scenario: "fuzz",
        metric: "answer",
        unit: "ms",
        better: "lower",
        ours: summarize(report.latenciesMs),
        note: `${count} items, ${report.accepted} accepted, ${report.slowUnderLoad} over 1 s under load`,
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
        ours: summarize([(end - afterWarmup) / MB]),
        note: `RSS ${(afterWarmup / MB).toFixed(0)} → ${(end / MB).toFixed(0)} MB, max ${(max / MB).toFixed(0)}`,
      });
      if (end - afterWarmup > 64 * MB)
        throw new Error(
          `the node's memory grew by ${((end - afterWarmup) / MB).toFixed(0)} MB after the warm-up`,
        );
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  },
};
