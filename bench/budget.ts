// The per-message budget: where a node spends its time per message, by stage, for a node in a
// process of its own driven by the load generator. Two passes over the same workload: one plain
// (CPU time per thread, from /proc), one under V8's CPU profiler (how the main thread's time
// splits into stages). `npm run bench:budget -- [--quick] [--top N] [--out DIR]`.
// Method: bench/README.md ("Per-message budget").
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { HymxClient } from "../src/client/client.js";
import { engineClient } from "../src/host/engine.js";
import { resolveStateDir, statePaths } from "../src/host/paths.js";
import type { BuiltModule } from "../src/module/build.js";
import { EthereumSigner } from "../src/protocol/signers.js";
import { buildTestModule, poll, RESULT_READ } from "./lib/context.js";
import { LoadGenerator } from "./lib/load.js";
import { budgetFromProfile, type Budget } from "./lib/profile.js";

const program = new Command("budget")
  .description("Profile a node in its own process and print its per-message budget by stage")
  .option("--quick", "fewer messages (a smoke run)")
  .option("--top <n>", "also list the n heaviest functions (leaf frames) per message", "0")
  .option("--out <dir>", "where the table goes", join(process.cwd(), "bench", "results"))
  .addHelpText("after", "\nExample:\n  npm run bench:budget -- --quick --top 20\n");
program.parse();
const opts = program.opts<{ quick?: boolean; out: string; top: string }>();

const ONE = opts.quick ? 60 : 300;
const PROCESSES = 16;
const PER_PROCESS = opts.quick ? 8 : 30;
const IN_FLIGHT = 16;

interface Mark {
  hrtimeUs: number;
  mainCpuMs: number;
  otherCpuMs: number;
}
interface Window {
  from: Mark;
  to: Mark;
  messages: number;
}
interface Pass {
  one: Window;
  many: Window;
  profile?: string;
}

function answer<T>(child: ChildProcess, send?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`the node exited (${code})`));
    child.once("exit", onExit);
    child.once("message", (m: T) => {
      child.off("exit", onExit);
      resolve(m);
    });
    if (send) child.send(send);
  });
}

/** Starts a node in its own process (profiled or not), sends the workload, stops it. */
async function pass(module: BuiltModule, load: LoadGenerator, profiled: boolean): Promise<Pass> {
  const base = mkdtempSync(join(tmpdir(), "vmd-budget-"));
  mkdirSync(join(base, "mod"));
  copyFileSync(module.file, join(base, "mod", basename(module.file)));
  const profDir = join(base, "prof");
  const child = fork(fileURLToPath(new URL("./lib/budget-node.js", import.meta.url)), [], {
    env: { ...process.env, BASE_DIR: base },
    execArgv: profiled
      ? ["--cpu-prof", "--cpu-prof-dir", profDir, "--cpu-prof-interval", "250"]
      : [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  try {
    const { url, address } = await answer<{ url: string; address: string }>(child);
    const client = new HymxClient({
      url,
      signer: new EthereumSigner(randomBytes(32).toString("hex")),
    });
    const pids: string[] = [];
    for (let i = 0; i < PROCESSES; i++) {
      const pid = await client.spawn({ module: module.id, scheduler: address });
      await poll(() => client.result(pid, pid), `the spawn of ${pid}`);
      pids.push(pid);
    }
    const [first] = pids as [string];
    await load.ask({ cmd: "prepare", pids: [first], count: ONE + 20 });
    await load.ask({ cmd: "prepare", pids, count: PER_PROCESS * 2 });
    const measure = async (messages: number, work: () => Promise<unknown>): Promise<Window> => {
      const from = await answer<Mark>(child, "mark");
      await work();
      return { from, to: await answer<Mark>(child, "mark"), messages };
    };
    const oneMessage = () => load.ask({ cmd: "node-one", url, pid: first, read: RESULT_READ });
    for (let i = 0; i < 20; i++) await oneMessage();
    const one = await measure(ONE, async () => {
      for (let i = 0; i < ONE; i++) await oneMessage();
    });
    const many = () =>
      load.ask({
        cmd: "node-many",
        url,
        pids,
        perProcess: PER_PROCESS,
        inFlight: IN_FLIGHT,
        read: RESULT_READ,
      });
    await many();
    const parallel = await measure(PROCESSES * PER_PROCESS, many);
    await answer(child, "stop").catch(() => {});
    if (child.exitCode === null) await new Promise((r) => child.once("exit", r));
    if (!profiled) return { one, many: parallel };
    const file = readdirSync(profDir)
      .filter((f) => f.endsWith(".cpuprofile"))
      .map((f) => join(profDir, f))
      // the main thread's profile is the first written (lowest thread id in the name)
      .sort()[0];
    if (!file) throw new Error(`the node wrote no profile into ${profDir}`);
    const kept = join(tmpdir(), `vmd-budget-${process.pid}.cpuprofile`);
    copyFileSync(file, kept);
    return { one, many: parallel, profile: kept };
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(base, { recursive: true, force: true });
  }
}

const f = (v: number | undefined) => (v === undefined ? "–" : v.toFixed(3));
const perMessage = (w: Window, k: "mainCpuMs" | "otherCpuMs") => (w.to[k] - w.from[k]) / w.messages;

const docker = engineClient(statePaths(resolveStateDir()));
await docker.ping();
console.log("# building the test module");
const module = await buildTestModule(docker);
const load = LoadGenerator.start();
let profile: string | undefined;
try {
  console.log(
    `# plain pass: ${ONE} messages one at a time, then ${PROCESSES * PER_PROCESS} to ${PROCESSES} processes, ${IN_FLIGHT} in flight`,
  );
  const plain = await pass(module, load, false);
  console.log("# the same under the CPU profiler");
  const profiled = await pass(module, load, true);
  profile = profiled.profile!;
  const budgets = [profiled.one, profiled.many].map((w) =>
    budgetFromProfile(profile!, w.from.hrtimeUs, w.to.hrtimeUs, w.messages),
  );
  const table = render(budgets, [plain.one, plain.many]);
  const top = Number(opts.top);
  const heaviest = top ? budgets.map((b, i) => heaviestList(b, i, top)).join("\n") : "";
  const cpu = cpus();
  const date = new Date().toISOString();
  const head = [
    `# Per-message budget ${date.slice(0, 16).replace("T", " ")}`,
    "",
    `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, Node ${process.version}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} at the end. Method: bench/README.md.`,
    "",
  ].join("\n");
  mkdirSync(opts.out, { recursive: true });
  const out = join(opts.out, `budget-${date.slice(0, 10)}${opts.quick ? "-quick" : ""}.md`);
  writeFileSync(out, `${head}\n${table}\n${heaviest}`);
  console.log(`${head}\n${table}\n${heaviest}`);
  console.log(`written: ${out}`);
} finally {
  load.close();
  if (profile) rmSync(profile, { force: true });
}

/**
 * Each stage's share of the main thread's profiled time, times the main thread's CPU time per
 * message in the plain pass: CPU milliseconds per message by stage.
 */
function render(budgets: Budget[], plain: Window[]): string {
  const stages = [...new Set(budgets.flatMap((b) => [...b.perMessageMs.keys()]))].sort(
    (a, b) => (budgets[0]!.perMessageMs.get(b) ?? 0) - (budgets[0]!.perMessageMs.get(a) ?? 0),
  );
  const share = (b: Budget, s: string) => (b.perMessageMs.get(s) ?? 0) / b.totalMs;
  const cell = (i: number, s: string) =>
    `${f(share(budgets[i]!, s) * perMessage(plain[i]!, "mainCpuMs"))} | ${(share(budgets[i]!, s) * 100).toFixed(0)}%`;
  const wall = plain.map((w) => (w.to.hrtimeUs - w.from.hrtimeUs) / 1000 / w.messages);
  return [
    `| stage (main thread CPU, ms per message) | one at a time | share | ${IN_FLIGHT} in flight, ${PROCESSES} processes | share |`,
    "|---|---:|---:|---:|---:|",
    ...stages.map((s) => `| ${s} | ${cell(0, s)} | ${cell(1, s)} |`),
    `| **main thread CPU** | **${f(perMessage(plain[0]!, "mainCpuMs"))}** | | **${f(perMessage(plain[1]!, "mainCpuMs"))}** | |`,
    `| other threads' CPU (the store's writer, libuv pool, GC helpers) | ${f(perMessage(plain[0]!, "otherCpuMs"))} | | ${f(perMessage(plain[1]!, "otherCpuMs"))} | |`,
    `| wall time per message (one at a time: latency; in flight: 1 ÷ rate) | ${f(wall[0])} | | ${f(wall[1])} | |`,
  ].join("\n");
}

function heaviestList(b: Budget, i: number, top: number): string {
  const rows = [...b.leaves]
    .sort((x, y) => y[1] - x[1])
    .slice(0, top)
    .map(([k, v]) => `- ${((v / b.totalMs) * 100).toFixed(1)}% ${k}`);
  return `\n${i === 0 ? "One at a time" : `${IN_FLIGHT} in flight`}: heaviest functions (share of the main thread's profiled time)\n\n${rows.join("\n")}\n`;
}
