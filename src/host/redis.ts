import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { VmdError } from "../errors.js";
import type { Task } from "../progress.js";
import { ensurePackages } from "../sys/apt.js";
import { commandExists } from "../sys/exec.js";
import type { StatePaths } from "./paths.js";
import { cannotInstallReason, detectPlatform } from "../sys/platform.js";
import { isAlive, readStartedState, stopStartedProcess } from "./started.js";

export const DEFAULT_REDIS_PORT = 6379;

export function redisPort(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.VMDOCKER_REDIS_PORT;
  if (raw === undefined || raw === "") return DEFAULT_REDIS_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new VmdError(
      "err_bad_config",
      `VMDOCKER_REDIS_PORT=${raw} is not a port`,
      "use a number from 1 to 65535",
    );
  }
  return port;
}

/** True when a Redis server answers PING on 127.0.0.1:port. */
export function redisAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: "127.0.0.1", port });
    const finish = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => finish(false));
    sock.on("error", () => finish(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => finish(d.toString().startsWith("+PONG")));
  });
}

/**
 * Makes sure Redis answers on 127.0.0.1:port: installs Debian's redis-server when needed and
 * starts it bound to loopback, with AOF (fsync every write) under the state folder.
 */
export async function ensureRedis(paths: StatePaths, port: number, task: Task): Promise<void> {
  if (await redisAnswers(port)) {
    const ours = readStartedState(paths.redis.stateFile);
    task.done(
      `${ours && isAlive(ours.pid) ? "started earlier by vmdocker" : "already running"} on 127.0.0.1:${port}`,
    );
    return;
  }
  if (!(await commandExists("redis-server"))) {
    const cannot = cannotInstallReason(detectPlatform());
    if (cannot) throw new VmdError("err_redis_missing", "redis-server is not installed", cannot);
    task.update("installing redis-server");
    await ensurePackages(["redis-server"], (l) => task.update(l.slice(0, 60)));
    if (await redisAnswers(port)) {
      task.done(`installed; the package's own service answers on 127.0.0.1:${port}`);
      return;
    }
  }
  mkdirSync(paths.redis.dir, { recursive: true });
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--protected-mode",
    "yes",
    "--dir",
    paths.redis.dir,
    "--appendonly",
    "yes",
    "--appendfsync",
    "always",
    "--daemonize",
    "no",
    "--logfile",
    paths.redis.logFile,
  ];
  const child = spawn("redis-server", args, { detached: true, stdio: "ignore" });
  child.unref();
  writeFileSync(
    paths.redis.stateFile,
    JSON.stringify({ pid: child.pid, port, startedAt: new Date().toISOString() }),
  );
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await redisAnswers(port, 300)) {
      task.done(
        `started redis-server on 127.0.0.1:${port} (AOF, fsync always), data in ${paths.redis.dir}`,
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new VmdError(
    "err_redis_missing",
    `redis-server did not answer on port ${port}`,
    `read ${paths.redis.logFile}`,
  );
}

export async function stopRedis(paths: StatePaths): Promise<string> {
  const stopped = await stopStartedProcess(paths.redis.stateFile, 10_000);
  return stopped
    ? `stopped redis-server (pid ${stopped.pid})`
    : "no redis-server started by vmdocker is running";
}
