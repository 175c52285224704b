import type { Command } from "commander";
import { VmdError } from "../../errors.js";
import { startNode, type RunningNode } from "../../node/app.js";
import { loadConfig, type NodeConfig } from "../../node/config.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import { VmRegistry } from "../../vm/contract.js";
import type { CliContext } from "../context.js";

export type RecoveryMode = "normal" | "rebuild";

/**
 * Runs a node in the foreground until SIGINT/SIGTERM, then checkpoints and shuts it down. With an
 * engine that answers, processes in containers (hymx.vmdocker.v0.0.1) can be spawned.
 */
export async function runNode(
  configFile: string | undefined,
  mode: RecoveryMode,
  docker: DockerClient | undefined,
  onReady?: (r: RunningNode) => void,
  adjust: (cfg: NodeConfig) => NodeConfig = (cfg) => cfg,
): Promise<void> {
  const cfg = adjust(loadConfig(configFile));
  const log = (l: string) => console.log(l);
  let engine = docker;
  if (engine) {
    try {
      await engine.ping();
    } catch (err) {
      log(
        `warning: ${(err as Error).message}: processes in containers are off (run \`vmdocker host setup\`)`,
      );
      engine = undefined;
    }
  }
  const running = await startNode(cfg, {
    baseDir: process.cwd(),
    vms: new VmRegistry(),
    log,
    mode,
    docker: engine,
  });
  onReady?.(running);
  await new Promise<void>((resolve) => {
    const stop = () => {
      console.log("stopping the node (checkpointing running processes)");
      void running.close().then(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

export function parseMode(value: string): RecoveryMode {
  if (value !== "normal" && value !== "rebuild") {
    throw new VmdError(
      "err_bad_flag",
      `--mode ${value} is not a recovery mode`,
      "use --mode normal or --mode rebuild",
    );
  }
  return value;
}

export function registerNode(program: Command, ctx: () => CliContext): void {
  program
    .command("node")
    .description("run the hymx-compatible node (embedded SQLite store unless redisURL is set)")
    .option("-c, --config <file>", "config.yaml with the upstream keys (see README)")
    .option(
      "-m, --mode <mode>",
      "recovery at start: normal (from checkpoints) or rebuild (replay all, re-save results)",
      "normal",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  vmdocker node -c config.yaml\n  VMDOCKER_PORT=:9090 vmdocker node --mode rebuild",
    )
    .action(async (opts: { config?: string; mode: string }) =>
      runNode(opts.config, parseMode(opts.mode), ctx().client()),
    );
}
