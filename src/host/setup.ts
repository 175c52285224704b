import type { Progress } from "../progress.js";
import type { DockerClient } from "../runtime/docker/client.js";
import {
  CRIU_OPTIONS,
  criuOptionsState,
  ensureCriuOptions,
  missingCriuOptions,
  RUNC_CRIU_CONF,
} from "./criu-options.js";
import { criuStatus, installCriu, type CriuStatus } from "./criu.js";
import { ensureEngine, probeEngine } from "./engine.js";
import type { StatePaths } from "./paths.js";
import { ensureRedis } from "./redis.js";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { errorMessage } from "../errors.js";
import { ioUringDisabled, setIoUringDisabled } from "../sys/kernel.js";
import { detectPlatform } from "../sys/platform.js";

export interface SetupOptions {
  criu: boolean;
  redis: boolean;
  redisPort: number;
}

export interface SetupReport {
  client: DockerClient;
  criu: CriuStatus;
  checkpointsOn: boolean;
  redis: boolean;
}

/** Installs and starts what is missing, idempotently; explains each step through `progress`. */
export async function setupHost(
  paths: StatePaths,
  opts: SetupOptions,
  progress: Progress,
): Promise<SetupReport> {
  const client = await ensureEngine(paths, progress.task("docker engine"));

  const criuTask = progress.task("criu (checkpoints)");
  let criu = await criuStatus();
  if (!criu.works && opts.criu) {
    try {
      await installCriu(paths, criuTask);
      criu = await criuStatus();
    } catch (err) {
      criu = { ...criu, detail: `${criu.detail}; building CRIU 4 failed: ${errorMessage(err)}` };
    }
  }
  const engine = await probeEngine(client, paths);
  const checkpointsOn = criu.works && engine.experimental === true;
  if (checkpointsOn) {
    const notes = [criu.detail];
    // CRIU cannot dump io_uring instances, and Node >= 20 (libuv) opens them in every process.
    // With 1, only privileged processes may create them: containers (no capabilities) fall back.
    const uring = ioUringDisabled();
    if (uring === 0 && detectPlatform().isRoot) {
      mkdirSync(dirname(paths.criu.ioUringFile), { recursive: true });
      writeFileSync(paths.criu.ioUringFile, "0\n");
      setIoUringDisabled(1);
      notes.push("set kernel.io_uring_disabled=1 so containers can be checkpointed");
    }
    const options = detectPlatform().isRoot
      ? ensureCriuOptions()
      : { ...criuOptionsState(), written: false };
    if (options.written) {
      // `host stop` of this state folder (and only of this one) removes the file again.
      mkdirSync(dirname(paths.criu.optionsWritten), { recursive: true });
      writeFileSync(paths.criu.optionsWritten, `${RUNC_CRIU_CONF}\n`);
      notes.push(`wrote ${RUNC_CRIU_CONF} (${CRIU_OPTIONS.join(", ")}) for runc's checkpoints`);
    }
    if (!options.ok) notes.push(missingCriuOptions(options));
    criuTask[options.ok ? "done" : "warn"](notes.join("; "));
  } else if (!criu.works)
    criuTask.warn(`${criu.detail}: full-memory checkpoints are off (everything else works)`);
  else
    criuTask.warn(
      `${criu.detail}, but the engine is not experimental: full-memory checkpoints are off`,
    );

  let redis = false;
  if (opts.redis) {
    const task = progress.task("redis");
    try {
      await ensureRedis(paths, opts.redisPort, task);
      redis = true;
    } catch (err) {
      task.warn(`${errorMessage(err)}: the Redis store is unavailable (the embedded store works)`);
    }
  }
  return { client, criu, checkpointsOn, redis };
}

/** `vmdocker host stop` puts kernel.io_uring_disabled back to what it was before setup changed it. */
export function restoreIoUring(paths: StatePaths): string | null {
  if (!existsSync(paths.criu.ioUringFile)) return null;
  const before = Number(readFileSync(paths.criu.ioUringFile, "utf8").trim());
  rmSync(paths.criu.ioUringFile, { force: true });
  if (before !== 0 || ioUringDisabled() === null) return null;
  writeFileSync("/proc/sys/kernel/io_uring_disabled", "0\n");
  return "restored kernel.io_uring_disabled=0";
}
