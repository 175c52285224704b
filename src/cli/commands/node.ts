import type { Command } from "commander";
import { loadConfig } from "../../node/config.js";
import { startNode } from "../../node/app.js";
import { VmRegistry } from "../../vm/contract.js";

export function registerNode(program: Command): void {
  program
    .command("node")
    .description("run the hymx-compatible node (embedded SQLite store unless redisURL is set)")
    .option("-c, --config <file>", "config.yaml with the upstream keys (see README)")
    .addHelpText(
      "after",
      "\nExamples:\n  vmdocker node -c config.yaml\n  VMDOCKER_PORT=:9090 vmdocker node",
    )
    .action(async (opts: { config?: string }) => {
      const cfg = loadConfig(opts.config);
      const running = await startNode(cfg, {
        baseDir: process.cwd(),
        vms: new VmRegistry(),
        log: (l) => console.log(l),
      });
      const stop = async () => {
        await running.close();
        process.exit(0);
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
