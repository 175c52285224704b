// The per-message budget: where a node's main thread spends its time per message, by stage, from
// a V8 CPU profile of a node in its own process, driven by the load generator.
// `npm run bench:budget -- [--quick] [--out DIR]`. Method: bench/README.md ("Per-message budget").
import { fork, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { Command } from "commander";
import { HymxClient } from "../src/client/client.js";
import { engineClient } from "../src/host/engine.js";
import { resolveStateDir, statePaths } from "../src/host/paths.js";
import { EthereumSigner } from "../src/protocol/signers.js";
import { buildTestModule, poll, RESULT_READ } from "./lib/context.js";
import { LoadGenerator } from "./lib/load.js";
import { budgetFromProfile, type Budget } from "./lib/profile.js";

const program = new Command("budget")
  .description("Profile a node in its own process and print its per-message budget by stage")
  .option("--quick", "fewer messages (a smoke run)")
  .option("--out <dir>", "where the table goes", join(process.cwd(), "bench", "results"))
  .addHelpText("after", "\nExample:\n  npm run bench:budget -- --quick\n");
program.parse();
const opts = program.opts<{ quick?: boolean; out: string }>();

const ONE = opts.quick ? 60 : 300;
const PROCESSES = 16;
const PER_PROCESS = opts.quick ? 8 : 30;
const IN_FLIGHT = 16;

interface Mark {
  hrtimeUs: number;
  cpuUs: number;
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

const docker = engineClient(statePaths(resolveStateDir()));
await docker.ping();
console.log("# building the test module");
const module = await buildTestModule(docker);
const base = mkdtempSync(join(tmpdir(), "vmd-budget-"));
mkdirSync(join(base, "mod"));
copyFileSync(module.file, join(base, "mod", basename(module.file)));
const profDir = join(base, "prof");
const child = fork(fileURLToPath(new URL("./lib/budget-node.js", import.meta.url)), [], {
  env: { ...process.env, BASE_DIR: base },
  execArgv: ["--cpu-prof", "--cpu-prof-dir", profDir, "--cpu-prof-interval", "250"],
  stdio: ["ignore", "inherit", "inherit", "ipc"],
});
const load = LoadGenerator.start();
try {
  const { url, address } = await answer<{ url: string; address: string }>(child);
  const client = new HymxClient({
    url,
    signer: new EthereumSigner(randomBytes(32).toString("hex")),
  });
  const spawn = async () => {
    const pid = await client.spawn({ module: module.id, scheduler: address });
    await poll(() => client.result(pid, pid), `the spawn of ${pid}`);
    return pid;
  };
  const pids: string[] = [];
  for (let i = 0; i < PROCESSES; i++) pids.push(await spawn());
  const [first] = pids as [string];
  await load.ask({ cmd: "prepare", pids: [first], count: ONE + 20 });
  await load.ask({ cmd: "prepare", pids, count: PER_PROCESS * 2 });

  const measure = async (messages: number, work: () => Promise<unknown>) => {
    const from = await answer<Mark>(child, "mark");
    await work();
    const to = await answer<Mark>(child, "mark");
    return { from, to, messages };
  };
  console.log(`# ${ONE} messages one at a time to one process`);
  for (let i = 0; i < 20; i++)
    await load.ask({ cmd: "node-one", url, pid: first, read: RESULT_READ });
  const one = await measure(ONE, async () => {
    for (let i = 0; i < ONE; i++)
      await load.ask({ cmd: "node-one", url, pid: first, read: RESULT_READ });
  });
  console.log(
    `# ${PROCESSES * PER_PROCESS} messages to ${PROCESSES} processes, ${IN_FLIGHT} in flight`,
  );
  const many = {
    cmd: "node-many",
    url,
    pids,
    perProcess: PER_PROCESS,
    inFlight: IN_FLIGHT,
    read: RESULT_READ,
  } as const;
  await load.ask(many);
  const parallel = await measure(PROCESSES * PER_PROCESS, () => load.ask(many));
  await answer(child, "stop").catch(() => {});
  await new Promise((r) => (child.exitCode === null ? child.once("exit", r) : r(null)));

  const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`the node wrote no profile into ${profDir}`);
  const budget = (m: typeof one) =>
    budgetFromProfile(join(profDir, file), m.from.hrtimeUs, m.to.hrtimeUs, m.messages);
  const table = render(
    [budget(one), budget(parallel)],
    [one, parallel].map((m) => ({
      cpuMs: (m.to.cpuUs - m.from.cpuUs) / 1000 / m.messages,
      wallMs: (m.to.hrtimeUs - m.from.hrtimeUs) / 1000 / m.messages,
    })),
  );
  const cpu = cpus();
  const head = `# Per-message budget ${new Date().toISOString().slice(0, 16).replace("T", " ")}\n\nMachine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "cpu"}, Node ${process.version}; load average ${(
    await import("node:os")
  )
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}. Method: bench/README.md.\n\n`;
  mkdirSync(opts.out, { recursive: true });
  const out = join(
    opts.out,
    `budget-${new Date().toISOString().slice(0, 10)}${opts.quick ? "-quick" : ""}.md`,
  );
  writeFileSync(out, head + table + "\n");
  console.log(head + table);
  console.log(`written: ${out}`);
} finally {
  load.close();
  if (child.exitCode === null) child.kill("SIGKILL");
  rmSync(base, { recursive: true, force: true });
}

function render(budgets: Budget[], totals: { cpuMs: number; wallMs: number }[]): string {
  const stages = [...new Set(budgets.flatMap((b) => [...b.perMessageMs.keys()]))].sort(
    (a, b) => (budgets[0]!.perMessageMs.get(b) ?? 0) - (budgets[0]!.perMessageMs.get(a) ?? 0),
  );
  const f = (v: number | undefined) => (v === undefined ? "–" : v.toFixed(3));
  const share = (b: Budget, s: string) =>
    `${(((b.perMessageMs.get(s) ?? 0) / b.totalMs) * 100).toFixed(0)}%`;
  return [
    `| stage (main thread, ms per message) | one at a time | share | ${IN_FLIGHT} in flight, ${PROCESSES} processes | share |`,
    "|---|---:|---:|---:|---:|",
    ...stages.map(
      (s) =>
        `| ${s} | ${f(budgets[0]!.perMessageMs.get(s))} | ${share(budgets[0]!, s)} | ${f(budgets[1]!.perMessageMs.get(s))} | ${share(budgets[1]!, s)} |`,
    ),
    `| **main thread busy** | **${f(budgets[0]!.totalMs)}** | | **${f(budgets[1]!.totalMs)}** | |`,
    `| node process CPU (user + sys, all threads) | ${f(totals[0]!.cpuMs)} | | ${f(totals[1]!.cpuMs)} | |`,
    `| wall time per message (one at a time: latency; in flight: 1 / rate) | ${f(totals[0]!.wallMs)} | | ${f(totals[1]!.wallMs)} | |`,
  ].join("\n");
}
