// Starting and stopping instances (vm-ctl start/stop/restart/pause/resume/boot): through systemd
// where it runs the instance, else through the project's own supervisor, one detached process
// per instance. What the operator asked for last is recorded (DESIRED), so `vm-ctl boot` after a
// host restart brings back exactly the bots that were running and leaves stopped ones stopped.
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { VmdError } from "../errors.js";
import { isAlive } from "../host/started.js";
import { packageRoot } from "../package-root.js";
import { envPairs, type MicrovmEnv } from "./env.js";
import { waitHealthy } from "./net/health.js";
import { instancePaths, type InstancePaths } from "./paths.js";
import { clearRunFiles, supervisorPid, vmmPid } from "./run-state.js";
import { listInstanceIds, readInstance, writeInstance, type InstanceRecord } from "./state.js";
import { setUnitsEnabled } from "./units.js";
import { driverFor, readSpec } from "./vmspec.js";

/** Variables that may hold secrets: a supervisor never inherits them. */
const SECRET_VARS = [
  "ANTHROPIC_API_KEY",
  "OPENAI_API_KEY",
  "MINIMAX_API_KEY",
  "TELEGRAM_BOT_TOKEN",
  "TELEGRAM_TOKEN",
];

export function vmCtlScript(): string {
  return join(packageRoot(), "dist", "src", "cli", "vm-ctl.js");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether something supervises the instance now (its supervisor process or its systemd unit). */
export function supervised(env: MicrovmEnv, r: InstanceRecord): boolean {
  return supervisorPid(instancePaths(env, r.id)) !== null;
}

/**
 * Starts the instance's supervisor as a detached process (its log: FC_ROOT/<id>/logs/supervisor.log)
 * and waits until it has taken the instance.
 * @throws VmdError err_supervisor_start with the log's last line
 */
export async function spawnSupervisor(env: MicrovmEnv, id: string): Promise<number> {
  const p = instancePaths(env, id);
  mkdirSync(p.logs.dir, { recursive: true, mode: 0o700 });
  const out = openSync(p.logs.supervisor, "a", 0o600);
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...envPairs(env) };
  for (const k of SECRET_VARS) delete childEnv[k];
  const child = spawn(process.execPath, [vmCtlScript(), "supervise", id], {
    detached: true,
    stdio: ["ignore", out, out],
    env: childEnv,
  });
  closeSync(out);
  child.unref();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const pid = supervisorPid(p);
    if (pid) return pid;
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(p.logs.supervisor) ? readFileSync(p.logs.supervisor, "utf8") : "";
      throw new VmdError(
        "err_supervisor_start",
        `the supervisor of ${id} did not start: ${log.trim().split("\n").at(-1) ?? "no log"}`,
        `read ${p.logs.supervisor}`,
      );
    }
    await sleep(100);
  }
}

export interface StartOptions {
  /** Wait until the gateway answers /health through the proxy (ms); 0: do not wait. */
  waitMs: number;
  onWait?: (seconds: number) => void;
}

/**
 * Starts an instance and (by default) waits for its gateway; a running one is left as it is.
 * Returns the milliseconds until healthy (0 when not waited for).
 */
export async function startInstance(env: MicrovmEnv, id: string, o: StartOptions): Promise<number> {
  const r = readInstance(env, id);
  const p = instancePaths(env, id);
  if (r.desired !== "running") writeInstance(env, { ...r, desired: "running" });
  const started = Date.now();
  if (r.supervisor === "systemd") await setUnitsEnabled(r, true, true);
  else if (!supervisorPid(p)) await spawnSupervisor(env, id);
  if (!o.waitMs) return 0;
  await waitHealthy(r.hostPort, o.waitMs, {
    what: `instance ${id}`,
    stillAlive: () => r.supervisor === "systemd" || supervisorPid(p) !== null,
    ...(o.onWait ? { onWait: o.onWait } : {}),
  });
  return Date.now() - started;
}

/** Kills whatever still runs for an instance (a VMM left by a dead supervisor). */
function killLeftovers(p: InstancePaths): void {
  let socket: string;
  try {
    socket = readSpec(p).controlSocket;
  } catch {
    return;
  }
  const pid = vmmPid(p, socket);
  if (pid)
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
}

/**
 * Stops an instance: its guest powers off (or, with `now`, its VMM is killed) and its supervisor
 * ends; it stays stopped, across host restarts too, until started again.
 */
export async function stopInstance(
  env: MicrovmEnv,
  id: string,
  o: { now?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const r = readInstance(env, id);
  const p = instancePaths(env, id);
  writeInstance(env, { ...r, desired: "stopped" });
  if (r.supervisor === "systemd") {
    await setUnitsEnabled(r, false, true);
  } else {
    const pid = supervisorPid(p);
    if (pid) {
      process.kill(pid, o.now ? "SIGUSR1" : "SIGTERM");
      const deadline = Date.now() + (o.timeoutMs ?? 150_000);
      while (isAlive(pid) && Date.now() < deadline) await sleep(200);
      if (isAlive(pid)) process.kill(pid, "SIGKILL");
    }
  }
  killLeftovers(p);
  clearRunFiles(p);
}

/** Pauses the guest's vCPUs (memory stays); `resumeInstance` continues it. */
export async function pauseInstance(env: MicrovmEnv, id: string): Promise<void> {
  const { p, spec } = runningSpec(env, id);
  await driverFor(spec.vmm).pause(spec);
  writeFileSync(p.run.paused, `${new Date().toISOString()}\n`);
}

export async function resumeInstance(env: MicrovmEnv, id: string): Promise<void> {
  const { p, spec } = runningSpec(env, id);
  await driverFor(spec.vmm).resume(spec);
  rmSync(p.run.paused, { force: true });
}

/**
 * The spec of an instance whose VMM runs.
 * @throws VmdError err_not_running
 */
export function runningSpec(env: MicrovmEnv, id: string) {
  readInstance(env, id);
  const p = instancePaths(env, id);
  const spec = readSpec(p);
  if (!vmmPid(p, spec.controlSocket))
    throw new VmdError("err_not_running", `instance ${id} is not running`, `vm-ctl start ${id}`);
  return { p, spec };
}

/**
 * Starts every instance that should run but has no supervisor (what a host restart leaves):
 * the boot-time entry for hosts without systemd. Stopped instances stay stopped.
 */
export async function bootInstances(
  env: MicrovmEnv,
): Promise<{ started: string[]; left: string[] }> {
  const started: string[] = [];
  const left: string[] = [];
  for (const id of listInstanceIds(env)) {
    const r = readInstance(env, id);
    if (r.desired !== "running" || r.supervisor === "systemd") {
      left.push(id);
      continue;
    }
    if (!supervised(env, r)) {
      await spawnSupervisor(env, id);
      started.push(id);
    }
  }
  return { started, left };
}
