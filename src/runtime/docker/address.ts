import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BadDockerHostError } from "./errors.js";

/** How to reach an engine: a unix socket, or TCP (optionally TLS, as DOCKER_TLS_VERIFY says). */
export type EngineAddress =
  | { kind: "unix"; socketPath: string; display: string }
  | {
      kind: "tcp";
      host: string;
      port: number;
      protocol: "http" | "https";
      display: string;
      tls?: { ca: Buffer; cert: Buffer; key: Buffer };
    };

export const DEFAULT_SOCKET = "/var/run/docker.sock";

export function parseDockerHost(
  value: string,
  env: NodeJS.ProcessEnv = process.env,
): EngineAddress {
  const trimmed = value.trim();
  if (trimmed.startsWith("unix://")) {
    const socketPath = trimmed.slice("unix://".length);
    if (!socketPath.startsWith("/")) throw new BadDockerHostError(value);
    return { kind: "unix", socketPath, display: trimmed };
  }
  const m = /^(tcp|http|https):\/\/([^:/\s]+|\[[^\]]+\]):(\d{1,5})\/?$/.exec(trimmed);
  if (!m) throw new BadDockerHostError(value);
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new BadDockerHostError(value);
  const useTls = m[1] === "https" || (env.DOCKER_TLS_VERIFY ?? "") !== "";
  const address: EngineAddress = {
    kind: "tcp",
    host: m[2]!.replace(/^\[|\]$/g, ""),
    port,
    protocol: useTls ? "https" : "http",
    display: trimmed,
  };
  if (useTls && env.DOCKER_CERT_PATH) {
    const dir = env.DOCKER_CERT_PATH;
    address.tls = {
      ca: readFileSync(join(dir, "ca.pem")),
      cert: readFileSync(join(dir, "cert.pem")),
      key: readFileSync(join(dir, "key.pem")),
    };
  }
  return address;
}

/**
 * The engine to talk to: DOCKER_HOST when set (never second-guessed), else the engine vmdocker
 * started under its state folder when its socket exists, else the system socket.
 */
export function resolveEngineAddress(
  env: NodeJS.ProcessEnv,
  vmdockerSocket: string | undefined,
): EngineAddress {
  if (env.DOCKER_HOST && env.DOCKER_HOST.trim() !== "")
    return parseDockerHost(env.DOCKER_HOST, env);
  if (vmdockerSocket && existsSync(vmdockerSocket)) {
    return { kind: "unix", socketPath: vmdockerSocket, display: `unix://${vmdockerSocket}` };
  }
  return { kind: "unix", socketPath: DEFAULT_SOCKET, display: `unix://${DEFAULT_SOCKET}` };
}
