import type { Command } from "commander";
import { runDoctor } from "../../host/doctor.js";
import { stopEngine } from "../../host/engine.js";
import { redisPort, stopRedis } from "../../host/redis.js";
import { removeCriuOptions, RUNC_CRIU_CONF } from "../../host/criu-options.js";
import { restoreIoUring, setupHost } from "../../host/setup.js";
import type { CliContext } from "../context.js";
import { printChecks, printJson } from "../output.js";
import { terminalProgress } from "../progress.js";

export function registerHost(program: Command, ctx: () => CliContext): void {
  const host = program
    .command("host")
    .description("set up, check and stop what vmdocker needs on this machine");

  host
    .command("setup")
    .description(
      "install and start what is missing: Docker engine (experimental), CRIU >= 4, Redis",
    )
    .option("--no-criu", "do not build CRIU 4 when criu check fails")
    .option("--no-redis", "do not install or start Redis")
    .option("--json", "print the outcome as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  sudo vmdocker host setup            # engine + CRIU + Redis\n  vmdocker host setup --no-criu --no-redis",
    )
    .action(async (opts: { criu: boolean; redis: boolean; json?: boolean }) => {
      const c = ctx();
      const report = await setupHost(
        c.paths,
        { criu: opts.criu, redis: opts.redis, redisPort: redisPort() },
        terminalProgress(),
      );
      const summary = {
        engine: report.client.address.display,
        criu: report.criu,
        checkpoints: report.checkpointsOn,
        redis: report.redis,
        stateDir: c.paths.root,
      };
      if (opts.json) printJson(summary);
      else {
        console.log(`\nengine: ${summary.engine}`);
        console.log(`full-memory checkpoints: ${summary.checkpoints ? "on" : "OFF"}`);
        console.log(`next: vmdocker host doctor, then vmdocker images build`);
      }
    });

  host
    .command("doctor")
    .description("check every requirement and say how to fix what is missing")
    .option("--json", "print the checks as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  vmdocker host doctor\n  vmdocker host doctor --json | jq '.[] | select(.status != \"ok\")'",
    )
    .action(async (opts: { json?: boolean }) => {
      const c = ctx();
      printChecks(await runDoctor(c.client(), c.paths, redisPort()), opts.json);
    });

  host
    .command("stop")
    .description("stop the engine and Redis that vmdocker started (never ones it did not start)")
    .addHelpText("after", "\nExample:\n  vmdocker host stop")
    .action(async () => {
      const c = ctx();
      console.log(await stopEngine(c.paths));
      console.log(await stopRedis(c.paths));
      const uring = restoreIoUring(c.paths);
      if (uring) console.log(uring);
      if (removeCriuOptions(c.paths.criu.optionsWritten)) console.log(`removed ${RUNC_CRIU_CONF}`);
    });
}
