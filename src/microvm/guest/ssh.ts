// SSH into a guest (OpenSSH's client): root with the key at SSH_KEY_PATH, and the guest's host key
// checked strictly against the one vm-setup put in its seed (no trust on first use).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { VmdError } from "../../errors.js";
import { run, runOrThrow, type RunResult } from "../../sys/exec.js";
import type { MicrovmEnv } from "../env.js";
import { writePrivate } from "../envfile.js";
import type { InstancePaths } from "../paths.js";
import type { InstanceRecord } from "../state.js";

/** Makes an ed25519 key pair at `file` (and `file.pub`) when there is none; returns the public key. */
export async function ensureKeyPair(file: string, comment: string): Promise<string> {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    await runOrThrow(
      "ssh-keygen",
      ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file],
      `making the SSH key ${file}`,
      "install openssh-client",
    );
  }
  return readFileSync(`${file}.pub`, "utf8").trim();
}

/** The host-key alias the guest is known by in its known_hosts file. */
export const hostAlias = (id: string) => `vmdemo-${id}`;

export function writeKnownHosts(p: InstancePaths, hostPublicKey: string): void {
  const [type, key] = hostPublicKey.trim().split(/\s+/);
  writePrivate(p.knownHosts, `${hostAlias(p.id)} ${type} ${key}\n`, 0o644);
}

/** Where SSH reaches the guest: its bridge address, or the loopback port forward in user mode. */
export function sshEndpoint(r: InstanceRecord): { host: string; port: number } {
  return r.network === "user"
    ? { host: "127.0.0.1", port: r.sshPort }
    : { host: r.guestIp, port: 22 };
}

/** `ssh` arguments up to and including the destination. */
export function sshArgs(
  env: MicrovmEnv,
  r: InstanceRecord,
  p: InstancePaths,
  opts: { tty?: boolean; connectTimeoutS?: number } = {},
): string[] {
  const { host, port } = sshEndpoint(r);
  return [
    "-i",
    env.sshKeyPath,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${p.knownHosts}`,
    "-o",
    `HostKeyAlias=${hostAlias(r.id)}`,
    "-o",
    `ConnectTimeout=${opts.connectTimeoutS ?? 10}`,
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "LogLevel=ERROR",
    ...(opts.tty ? ["-t"] : ["-T", "-o", "BatchMode=yes"]),
    "-p",
    String(port),
    `root@${host}`,
  ];
}

/**
 * Runs `command` (one string for the guest's shell) with `input` on stdin.
 * Resolves with the exit code (255 is SSH's own failure).
 */
export function sshRun(
  env: MicrovmEnv,
  r: InstanceRecord,
  p: InstancePaths,
  command: string,
  opts: {
    input?: NodeJS.ReadableStream | string;
    timeoutMs?: number;
    onLine?: (l: string) => void;
  } = {},
): Promise<RunResult> {
  return run("ssh", [...sshArgs(env, r, p), command], { input: opts.input ?? "", ...opts });
}

/**
 * Waits until the guest accepts an SSH login (the seed's "wait for SSH").
 * @throws VmdError err_guest_unreachable after `timeoutMs`
 */
export async function waitForSsh(
  env: MicrovmEnv,
  r: InstanceRecord,
  p: InstancePaths,
  timeoutMs: number,
  alive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (!alive())
      throw new VmdError(
        "err_guest_unreachable",
        `the VM of ${r.id} stopped while booting`,
        `read the console: vm-ctl logs ${r.id} host`,
      );
    const res = await sshRun(env, r, p, "true", { timeoutMs: 20_000 });
    if (res.code === 0) return;
    last = res.stderr.trim().split("\n").at(-1) ?? "";
    await new Promise((res2) => setTimeout(res2, 2000));
  }
  throw new VmdError(
    "err_guest_unreachable",
    `the guest of ${r.id} did not accept SSH within ${Math.round(timeoutMs / 1000)} s (${last || "no answer"})`,
    `read the console: vm-ctl logs ${r.id} host`,
  );
}
