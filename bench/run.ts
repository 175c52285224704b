// The benchmark harness: `npm run bench -- [--quick] [--only spawn,apply,...] [--out DIR] [--readme]`.
// Every scenario measures our path and the raw engine's, interleaved in one run. Method: bench/README.md.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { engineClient } from "../src/host/engine.js";
import { resolveStateDir, statePaths } from "../src/host/paths.js";
import { BenchContext, buildTestModule } from "./lib/context.js";
import { markdown, svgChart, updateReadme, type Run } from "./lib/report.js";
import type { Scenario } from "./lib/scenario.js";
import type { Row } from "./lib/stats.js";
import { agentsScenario } from "./scenarios/agents.js";
import { aoScenario } from "./scenarios/ao.js";
import { graphqlScenario } from "./scenarios/graphql.js";
import { applyScenario } from "./scenarios/apply.js";
import { checkpointScenario } from "./scenarios/checkpoint.js";
import { dashboardScenario } from "./scenarios/dashboard.js";
import { densityScenario } from "./scenarios/density.js";
import { fuzzScenario } from "./scenarios/fuzz.js";
import { microvmScenario } from "./scenarios/microvm.js";
import { moduleLoadScenario } from "./scenarios/module-load.js";
import { spawnScenario } from "./scenarios/spawn.js";
import { throughputScenario } from "./scenarios/throughput.js";

const SCENARIOS: Scenario[] = [
  spawnScenario,
  applyScenario,
  throughputScenario,
  checkpointScenario,
  densityScenario,
  agentsScenario,
  dashboardScenario,
  moduleLoadScenario,
  fuzzScenario,
  aoScenario,
  graphqlScenario,
  microvmScenario,
];

const program = new Command("bench")
  .description("Measure vmdocker against the raw engine, interleaved in one run")
  .option("--quick", "a smoke run: few rounds, small sizes (under 5 minutes)")
  .option(
    "--only <names>",
    `comma-separated scenarios (${SCENARIOS.map((s) => s.name).join(", ")})`,
  )
  .option("--out <dir>", "where results go", join(process.cwd(), "bench", "results"))
  .option("--readme", "rewrite the README's performance block from this run")
  .addHelpText("after", "\nExample:\n  npm run bench -- --quick --only spawn,apply\n");
program.parse();
const opts = program.opts<{ quick?: boolean; only?: string; out: string; readme?: boolean }>();

const wanted = opts.only?.split(",").map((s) => s.trim()) ?? SCENARIOS.map((s) => s.name);
const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
if (unknown.length) {
  console.error(
    `error: unknown scenario ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`,
  );
  process.exit(2);
}

const started = performance.now();
const docker = engineClient(statePaths(resolveStateDir()));
await docker.ping();
const log = (line: string) => console.log(`# ${line}`);
log("building the test module");
const module = await buildTestModule(docker);
const ctx = new BenchContext(docker, module, !!opts.quick, log);
const rows: Row[] = [];
const skipped: Run["skipped"] = [];
let failed = false;
try {
  for (const scenario of SCENARIOS.filter((s) => wanted.includes(s.name))) {
    const why = await scenario.unavailable?.(ctx);
    if (why) {
      skipped.push({ scenario: scenario.name, why });
      log(`${scenario.name}: not measured: ${why}`);
      continue;
    }
    log(`${scenario.name}: ${scenario.describe}`);
    const t = performance.now();
    try {
      await scenario.run(ctx, (row) => {
        rows.push(row);
        log(
          `  ${row.metric}: ours median ${row.ours.median.toFixed(2)} ${row.unit}${row.baseline ? `, raw ${row.baseline.median.toFixed(2)} ${row.unit}` : ""}`,
        );
      });
    } catch (err) {
      failed = true;
      skipped.push({ scenario: scenario.name, why: `failed: ${(err as Error).message}` });
      log(`${scenario.name} failed: ${(err as Error).stack ?? String(err)}`);
    }
    log(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
  }
} finally {
  await ctx.close();
}

const cpu = cpus();
const run: Run = {
  date: new Date().toISOString().slice(0, 16).replace("T", " "),
  quick: !!opts.quick,
  machine: `${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  seconds: (performance.now() - started) / 1000,
  rows,
  skipped,
};
mkdirSync(opts.out, { recursive: true });
const stamp = `${new Date().toISOString().slice(0, 10)}${opts.quick ? "-quick" : ""}`;
const files = { md: `bench-${stamp}.md`, json: `bench-${stamp}.json`, svg: `bench-${stamp}.svg` };
writeFileSync(join(opts.out, files.md), markdown(run));
writeFileSync(join(opts.out, files.json), JSON.stringify(run, null, 2));
writeFileSync(join(opts.out, files.svg), svgChart(run));
if (opts.readme) {
  const readme = join(process.cwd(), "README.md");
  updateReadme(readme, run, { md: `bench/results/${files.md}`, svg: `bench/results/${files.svg}` });
  const prettier = join(process.cwd(), "node_modules", "prettier", "bin", "prettier.cjs");
  spawnSync(process.execPath, [prettier, "--write", readme], { stdio: "ignore" });
}
console.log(markdown(run));
console.log(`results: ${join(opts.out, files.md)} (+ .json, .svg)`);
process.exit(failed ? 1 : 0);
