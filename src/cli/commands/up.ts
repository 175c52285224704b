import type { Command } from "commander";
import { debianMirror } from "../../host/criu.js";
import { redisPort } from "../../host/redis.js";
import { setupHost } from "../../host/setup.js";
import { ImageBuilder } from "../../runtime/images/builder.js";
import type { CliContext } from "../context.js";
import { terminalProgress } from "../progress.js";

/** The README's main command: everything a node needs, set up and built, then the node. */
export function registerUp(program: Command, ctx: () => CliContext): void {
  program
    .command("up")
    .description("set up this host, build the images, and start the node (embedded store)")
    .option("--no-criu", "do not build CRIU 4 when criu check fails")
    .addHelpText("after", "\nExample:\n  sudo vmdocker up")
    .action(async (opts: { criu: boolean }) => {
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
        [
          "",
          `The host is ready: engine at ${report.client.address.display}, full-memory checkpoints ${report.checkpointsOn ? "on" : "OFF"}.`,
          "The node (vmdocker node: the hymx/AO API on :8080 with the embedded store) is not built yet;",
          "until it lands, this command prepares the host and images only.",
          "next: vmdocker host doctor   (what is running and what is missing)",
        ].join("\n"),
      );
    });
}
