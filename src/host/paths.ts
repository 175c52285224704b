import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

/** Where everything vmdocker starts or builds on this host lives. One folder, configurable. */
export interface StatePaths {
  root: string;
  engine: {
    dataRoot: string;
    execRoot: string;
    socket: string;
    pidFile: string;
    logFile: string;
    stateFile: string;
  };
  redis: { dir: string; pidFile: string; logFile: string; stateFile: string };
  criu: { buildDir: string; ioUringFile: string; optionsWritten: string };
  /** The agent hub: its store, its API token (read by docker-agent), its log. */
  hub: { dir: string; db: string; tokenFile: string; logFile: string; pidFile: string };
  cache: string;
}

const MAX_UNIX_SOCKET_PATH = 100;

export function resolveStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.VMDOCKER_HOME ?? join(homedir(), ".vmdocker"));
}

export function statePaths(root: string): StatePaths {
  const engineDir = join(root, "engine");
  // Unix socket paths are limited to ~108 bytes; a deep state folder gets a short stable socket path.
  let socket = join(engineDir, "docker.sock");
  if (socket.length > MAX_UNIX_SOCKET_PATH) {
    const tag = createHash("sha256").update(root).digest("hex").slice(0, 12);
    socket = `/run/vmdocker-${tag}.sock`;
  }
  const redisDir = join(root, "redis");
  return {
    root,
    engine: {
      dataRoot: join(engineDir, "data"),
      execRoot: join(engineDir, "exec"),
      socket,
      pidFile: join(engineDir, "dockerd.pid"),
      logFile: join(engineDir, "dockerd.log"),
      stateFile: join(engineDir, "started-by-vmdocker.json"),
    },
    redis: {
      dir: redisDir,
      pidFile: join(redisDir, "redis.pid"),
      logFile: join(redisDir, "redis.log"),
      stateFile: join(redisDir, "started-by-vmdocker.json"),
    },
    criu: {
      buildDir: join(root, "criu"),
      ioUringFile: join(root, "criu", "io_uring_disabled.before"),
      optionsWritten: join(root, "criu", "runc-conf.written"),
    },
    cache: join(root, "cache"),
    hub: {
      dir: join(root, "hub"),
      db: join(root, "hub", "hub.db"),
      tokenFile: join(root, "hub", "token"),
      logFile: join(root, "hub", "hub.log"),
      pidFile: join(root, "hub", "hub.pid"),
    },
  };
}
