// A node in a process of its own, for bench/budget.ts to profile (run with --cpu-prof).
// env: BASE_DIR (mod/ and data/ live here), REDIS_URL (optional). IPC: answers
// {url, address} once up; "mark" answers {hrtimeUs, mainCpuMs, otherCpuMs}; "stop" closes the
// node and exits.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { engineClient } from "../../src/host/engine.js";
import { resolveStateDir, statePaths } from "../../src/host/paths.js";
import { startNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { VmRegistry } from "../../src/vm/contract.js";

const running = await startNode(
  loadConfig(undefined, {
    VMDOCKER_PORT: ":0",
    VMDOCKER_CHECKPOINT_INTERVAL: "0",
    VMDOCKER_WARM_POOL: "0",
    VMDOCKER_REDIS_URL: process.env.REDIS_URL ?? "",
  }),
  {
    baseDir: process.env.BASE_DIR!,
    vms: new VmRegistry(),
    log: () => {},
    docker: engineClient(statePaths(resolveStateDir())),
  },
);
const tickMs = 1000 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** CPU time (user + sys, ms) of this process's main thread and of its other threads, profiler threads left out. */
function threadCpu(): { mainCpuMs: number; otherCpuMs: number } {
  let main = 0;
  let other = 0;
  for (const tid of readdirSync("/proc/self/task")) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    if (comm.startsWith("v8:Prof")) continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ms = (Number(fields[11]) + Number(fields[12])) * tickMs;
    if (Number(tid) === process.pid) main += ms;
    else other += ms;
  }
  return { mainCpuMs: main, otherCpuMs: other };
}

process.send!({ url: running.url, address: running.node.address });
process.on("message", (m: string) => {
  if (m === "mark") {
    process.send!({ hrtimeUs: Number(process.hrtime.bigint() / 1000n), ...threadCpu() });
  } else if (m === "stop") {
    void running.close().then(() => process.exit(0));
  }
});
