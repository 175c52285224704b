import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { VmdError, errorMessage } from "../errors.js";
import type { Task } from "../progress.js";
import { resolveEngineAddress, type EngineAddress } from "../runtime/docker/address.js";
import { DockerClient } from "../runtime/docker/client.js";
import { ensurePackages } from "../sys/apt.js";
import { commandExists } from "../sys/exec.js";
import type { StatePaths } from "./paths.js";
import { cannotInstallReason, detectPlatform } from "../sys/platform.js";
import { isAlive, readStartedState, stopStartedProcess, type StartedState } from "./started.js";

export const MIN_API_VERSION = "1.41";

export interface EngineStatus {
  address: EngineAddress;
  reachable: boolean;
  error?: string;
  serverVersion?: string;
  apiVersion?: string;
  experimental?: boolean;
  cgroupVersion?: string;
  startedByVmdocker: boolean;
}

export function engineClient(
  paths: StatePaths,
  env: NodeJS.ProcessEnv = process.env,
): DockerClient {
  return new DockerClient(resolveEngineAddress(env, paths.engine.socket));
}

export async function probeEngine(client: DockerClient, paths: StatePaths): Promise<EngineStatus> {
  const started = readStartedState(paths.engine.stateFile);
  const startedByVmdocker =
    !!started &&
    isAlive(started.pid) &&
    client.address.kind === "unix" &&
    client.address.socketPath === started.socket;
  try {
    const [version, info] = await Promise.all([client.version(), client.info()]);
    return {
      address: client.address,
      reachable: true,
      serverVersion: version.Version,
      apiVersion: version.ApiVersion,
      experimental: Boolean(info.ExperimentalBuild),
      cgroupVersion: typeof info.CgroupVersion === "string" ? info.CgroupVersion : undefined,
      startedByVmdocker,
    };
  } catch (err) {
    return {
      address: client.address,
      reachable: false,
      error: errorMessage(err),
      startedByVmdocker,
    };
  }
}

export function apiVersionAtLeast(actual: string | undefined, wanted: string): boolean {
  if (!actual) return false;
  const [a1 = 0, a2 = 0] = actual.split(".").map(Number);
  const [w1 = 0, w2 = 0] = wanted.split(".").map(Number);
  return a1 > w1 || (a1 === w1 && a2 >= w2);
}

/**
 * Makes sure an engine answers: uses a running one (DOCKER_HOST, the one vmdocker started, or the
 * system socket), else installs Debian's docker.io when needed and starts dockerd --experimental
 * with its socket, data-root and log under the state folder.
 */
export async function ensureEngine(
  paths: StatePaths,
  task: Task,
  env = process.env,
): Promise<DockerClient> {
  const client = engineClient(paths, env);
  const status = await probeEngine(client, paths);
  if (status.reachable) {
    const how = status.startedByVmdocker ? "started earlier by vmdocker" : "already running";
    const warn = status.experimental ? "" : " (not experimental: CRIU checkpoints are off)";
    task[warn ? "warn" : "done"](
      `${how} at ${client.address.display}, Docker ${status.serverVersion}${warn}`,
    );
    return client;
  }
  if (env.DOCKER_HOST) {
    throw new VmdError(
      "err_engine_down",
      `DOCKER_HOST=${env.DOCKER_HOST} does not answer (${status.error})`,
      "start that engine, or unset DOCKER_HOST so vmdocker starts its own",
    );
  }
  const platform = detectPlatform();
  const cannot = cannotInstallReason(platform);
  if (!(await commandExists("dockerd"))) {
    if (cannot) {
      throw new VmdError("err_engine_down", "no Docker engine is running or installed", cannot);
    }
    task.update("installing docker.io");
    await ensurePackages(["docker.io"], (l) => task.update(l.slice(0, 60)));
  } else if (cannot && !platform.isRoot) {
    throw new VmdError("err_engine_down", "dockerd is installed but not running", cannot);
  }
  task.update("starting dockerd --experimental");
  const address = await startDockerd(paths);
  const started = new DockerClient(address);
  const after = await probeEngine(started, paths);
  task.done(
    `started dockerd ${after.serverVersion} (experimental) at ${address.display}, data in ${paths.engine.dataRoot}`,
  );
  return started;
}

async function startDockerd(paths: StatePaths): Promise<EngineAddress> {
  const e = paths.engine;
  for (const dir of [e.dataRoot, e.execRoot, dirname(e.socket), dirname(e.logFile)])
    mkdirSync(dir, { recursive: true });
  const stale = readStartedState(e.stateFile);
  if (stale && isAlive(stale.pid)) await stopStartedProcess(e.stateFile, 20_000);
  if (existsSync(e.socket)) rmSync(e.socket);
  const log = openSync(e.logFile, "a");
  const env = {
    ...process.env,
    PATH: `/usr/local/sbin:/usr/local/bin:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
  };
  const child = spawn(
    "dockerd",
    [
      "--experimental",
      "--data-root",
      e.dataRoot,
      "--exec-root",
      e.execRoot,
      "-H",
      `unix://${e.socket}`,
      "--pidfile",
      e.pidFile,
    ],
    { detached: true, stdio: ["ignore", log, log], env },
  );
  child.unref();
  const state: StartedState = {
    pid: child.pid!,
    socket: e.socket,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(e.stateFile, JSON.stringify(state, null, 2));
  const address: EngineAddress = {
    kind: "unix",
    socketPath: e.socket,
    display: `unix://${e.socket}`,
  };
  const client = new DockerClient(address);
  const deadline = Date.now() + 60_000;
  let lastError = "";
  while (Date.now() < deadline) {
    if (!isAlive(child.pid!)) break;
    try {
      await client.ping();
      return address;
    } catch (err) {
      lastError = errorMessage(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = existsSync(e.logFile)
    ? readFileSync(e.logFile, "utf8").trim().split("\n").slice(-2).join(" | ")
    : lastError;
  throw new VmdError("err_engine_down", `dockerd did not come up: ${tail}`, `read ${e.logFile}`);
}

export async function stopEngine(paths: StatePaths): Promise<string> {
  const stopped = await stopStartedProcess(paths.engine.stateFile, 30_000);
  if (!stopped) return "no engine started by vmdocker is running";
  if (existsSync(paths.engine.socket)) rmSync(paths.engine.socket, { force: true });
  return `stopped dockerd (pid ${stopped.pid})`;
}
