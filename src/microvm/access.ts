// Reaching into an instance: its logs (guest: the gateway's journal over SSH; host: supervisor,
// VMM and serial console files), a shell or one command over SSH, and re-provisioning.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { VmdError } from "../errors.js";
import type { MicrovmEnv } from "./env.js";
import { planSetup, type RawSetupOptions } from "./flags.js";
import { provisionGuest } from "./guest/provision.js";
import { sshArgs, waitForSsh } from "./guest/ssh.js";
import { readProvisionOptions, writeProvisionOptions } from "./instance.js";
import { runningSpec } from "./lifecycle.js";
import { waitHealthy } from "./net/health.js";
import { instancePaths } from "./paths.js";
import { readInstance, readToken, writeInstance } from "./state.js";

/** Runs a child with the terminal attached; resolves with its exit code. */
function attached(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: "inherit" });
    child.on("error", () => resolve(127));
    child.on("close", (code, signal) => resolve(code ?? (signal === "SIGINT" ? 130 : 1)));
  });
}

/** Quotes one argument for the guest's POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * `vm-ctl shell <id> [cmd...]`: an interactive login (a terminal is allocated), or one command
 * whose exit code is returned. A single argument is run as the seed does (`shell my-bot "docker
 * ps"`: one shell command line); several are quoted and joined.
 */
export async function shell(env: MicrovmEnv, id: string, command: string[]): Promise<number> {
  const r = readInstance(env, id);
  const p = instancePaths(env, id);
  runningSpec(env, id);
  if (!command.length) return attached("ssh", sshArgs(env, r, p, { tty: process.stdin.isTTY }));
  const line = command.length === 1 ? command[0]! : command.map(shellQuote).join(" ");
  return attached("ssh", [...sshArgs(env, r, p), line]);
}

/**
 * `vm-ctl logs <id> [guest|host]`: the gateway's journal in the guest, or the host's logs of the
 * instance (supervisor and proxy, VMM, serial console). `follow` keeps tailing until Ctrl-C.
 */
export async function logs(
  env: MicrovmEnv,
  id: string,
  where: "guest" | "host",
  o: { follow: boolean; lines: number },
): Promise<number> {
  const r = readInstance(env, id);
  const p = instancePaths(env, id);
  if (where === "host") {
    const files = [p.logs.supervisor, p.logs.vmm, p.logs.serial].filter((f) => existsSync(f));
    if (!files.length)
      throw new VmdError("err_no_logs", `no host logs of ${id} yet`, `vm-ctl start ${id}`);
    return attached("tail", ["-n", String(o.lines), ...(o.follow ? ["-F"] : []), ...files]);
  }
  runningSpec(env, id);
  const journal = `journalctl -u openclaw-${id}.service -n ${o.lines} --no-pager${o.follow ? " -f" : ""}`;
  return attached("ssh", [...sshArgs(env, r, p), journal]);
}

/** `vm-ctl token <id>`: the gateway token (the only place it is printed). */
export function token(env: MicrovmEnv, id: string): string {
  readInstance(env, id);
  return readToken(instancePaths(env, id));
}

/** The options `vm-ctl provision` may change: guest-side ones only (disk, IP, port, token stay). */
export const PROVISION_KEYS = [
  "telegramToken",
  "telegramUsers",
  "telegramApiRoot",
  "model",
  "skills",
  "anthropicApiKey",
  "openaiApiKey",
  "minimaxApiKey",
  "providerBaseUrl",
  "skipBrowserInstall",
] as const;

/**
 * `vm-ctl provision <id> [flags]`: provisions the running guest again with the flags given, the
 * earlier ones for the rest; same disk, address, port and token. Waits for both health gates, or
 * with `wait` false returns once the new configuration is on the guest's disk and the gateway
 * restarting.
 */
export async function reprovision(
  env: MicrovmEnv,
  id: string,
  changes: Partial<RawSetupOptions>,
  timeoutS: number,
  onLine: (l: string) => void,
  wait = true,
): Promise<{ seconds: number }> {
  const r = readInstance(env, id);
  const p = instancePaths(env, id);
  runningSpec(env, id);
  const merged: RawSetupOptions = { ...readProvisionOptions(p), instance: id };
  for (const k of PROVISION_KEYS)
    if (changes[k] !== undefined) Object.assign(merged, { [k]: changes[k] });
  const plan = planSetup(merged);
  const t = Date.now();
  await waitForSsh(env, r, p, timeoutS * 1000);
  await provisionGuest(env, r, p, readToken(p), plan.provision, timeoutS, onLine, wait);
  // The gateway restarted: live in the guest already, it may still need minutes to finish starting.
  if (wait) await waitHealthy(r.hostPort, timeoutS * 1000, { what: `instance ${id}` });
  writeProvisionOptions(p, merged);
  writeInstance(env, { ...readInstance(env, id), model: plan.provision.model });
  return { seconds: (Date.now() - t) / 1000 };
}
