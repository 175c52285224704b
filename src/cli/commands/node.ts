import type { Command } from "commander";
import { startNode, type RunningNode } from "../../node/app.js";
import { loadConfig } from "../../node/config.js";
import { VmRegistry } from "../../vm/contract.js";

/** Runs a node in the foreground until SIGINT/SIGTERM, then shuts it down cleanly. */
export async function runNode(
  configFile: string | undefined,
  onReady?: (r: RunningNode) => void,
): Promise<void> {
  const cfg = loadConfig(configFile);
  const running = await startNode(cfg, {
    baseDir: process.cwd(),
    vms: new VmRegistry(),
    log: (l) => console.log(l),
  });
  onReady?.(running);
  await new Promise<void>((resolve) => {
    const stop = () => {
      console.log("stopping the node");
      void running.close().then(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

export function registerNode(program: Command): void {
  program
    .command("node")
    .description("run the hymx-compatible node (embedded SQLite store unless redisURL is set)")
    .option("-c, --config <file>", "config.yaml with the upstream keys (see README)")
    .addHelpText(
      "after",
      "\nExamples:\n  vmdocker node -c config.yaml\n  VMDOCKER_PORT=:9090 vmdocker node",
    )
    .action(async (opts: { config?: string }) => runNode(opts.config));
}
