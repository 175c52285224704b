// A node in a process of its own, for bench/budget.ts to profile (run with --cpu-prof).
// env: BASE_DIR (mod/ and data/ live here), REDIS_URL (optional). IPC: answers
// {url, address} once up; "mark" answers {hrtimeUs, cpuUs}; "stop" closes the node and exits.
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
process.send!({ url: running.url, address: running.node.address });
process.on("message", (m: string) => {
  if (m === "mark") {
    const cpu = process.cpuUsage();
    process.send!({
      hrtimeUs: Number(process.hrtime.bigint() / 1000n),
      cpuUs: cpu.user + cpu.system,
    });
  } else if (m === "stop") {
    void running.close().then(() => process.exit(0));
  }
});
