import type { Command } from "commander";
import { debianMirror } from "../../host/criu.js";
import { redisPort } from "../../host/redis.js";
import { setupHost } from "../../host/setup.js";
import { ImageBuilder } from "../../runtime/images/builder.js";
import type { CliContext } from "../context.js";
import { terminalProgress } from "../progress.js";
import { runNode } from "./node.js";

/** The README's main command: everything a node needs, set up and built, then the node itself. */
export function registerUp(program: Command, ctx: () => CliContext): void {
  program
    .command("up")
    .description(
      "set up this host, build the images, and run the node (embedded store) in the foreground",
    )
    .option("--no-criu", "do not build CRIU 4 when criu check fails")
    .option(
      "-c, --config <file>",
      "config.yaml for the node (default: built-in defaults, port :8080)",
    )
    .addHelpText("after", "\nExample:\n  sudo vmdocker up\n  vmdocker up -c config.yaml")
    .action(async (opts: { criu: boolean; config?: string }) => {
      const c = ctx();
      const progress = terminalProgress();
      const report = await setupHost(
        c.paths,
        { criu: opts.criu, redis: false, redisPort: redisPort() },
        progress,
      );
      await new ImageBuilder(
        report.client,
        { mirror: debianMirror(), cacheDir: c.paths.cache },
        progress,
      ).buildAll();
      console.log(
        `\nThe host is ready: engine at ${report.client.address.display}, full-memory checkpoints ${report.checkpointsOn ? "on" : "OFF"}.`,
      );
      await runNode(opts.config, "normal", report.client, (running) => {
        const token = running.node.core.token;
        console.log(
          [
            `\nThe node is serving ${running.url} (Ctrl-C stops it). Next, from another terminal:`,
            `  vmdocker send ${token ?? "<token-pid>"} --action Info --wait --url ${running.url}`,
            `  vmdocker results ${token ?? "<token-pid>"} --url ${running.url}`,
            "Processes in containers (the hymx.vmdocker.v0.0.1 VM) are not built yet: only core processes and",
            "modules of mounted formats can be spawned.",
          ].join("\n"),
        );
      });
    });
}
