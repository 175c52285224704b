// `vm-ctl list --json` / `status --json`: one object per bot, the contract the dashboard reads
// (issue 18): id, state, vmm, accel, network, ip, hostPort, health, pid, vcpu, memMib, model,
// createdAt, and more fields beside them.
import { existsSync } from "node:fs";
import { run } from "../sys/exec.js";
import type { MicrovmEnv } from "./env.js";
import { healthOk, probeTimeoutMs } from "./net/health.js";
import { instancePaths } from "./paths.js";
import { readRunStatus, supervisorPid, vmmPid } from "./run-state.js";
import { listInstanceIds, readInstance, type InstanceRecord } from "./state.js";
import { readSpec } from "./vmspec.js";

export type BotState = "running" | "stopped" | "paused" | "starting" | "error";

export interface BotStatus {
  id: string;
  state: BotState;
  vmm: "firecracker" | "qemu";
  accel: "kvm" | "tcg" | null;
  network: "bridge" | "user";
  /** The guest's address on the bridge; null in user mode (not reachable from the host). */
  ip: string | null;
  hostPort: number;
  health: "ok" | "down" | "unknown";
  /** The VMM's pid. */
  pid: number | null;
  vcpu: number;
  memMib: number;
  model: string | null;
  createdAt: string;
  /** Beyond the contract: */
  desired: "running" | "stopped";
  supervisor: "own" | "systemd";
  supervisorPid: number | null;
  tap: string | null;
  sshPort: number | null;
  restarts: number;
  since: string | null;
  lastError: string | null;
}

/** systemd's view of a unit, where systemd runs the instance. */
async function systemdActive(unit: string): Promise<boolean> {
  return (await run("systemctl", ["is-active", "--quiet", unit])).code === 0;
}

/** The status of one instance, probing /health through its proxy when it runs. */
export async function botStatus(env: MicrovmEnv, r: InstanceRecord): Promise<BotStatus> {
  const p = instancePaths(env, r.id);
  let socket: string;
  try {
    socket = readSpec(p).controlSocket;
  } catch {
    socket = "";
  }
  const vmm = socket ? vmmPid(p, socket) : null;
  const sup = supervisorPid(p);
  const run = readRunStatus(p);
  const supervised =
    r.supervisor === "systemd"
      ? await systemdActive(`firecracker-vmdemo-${r.id}.service`)
      : sup !== null;
  const paused = existsSync(p.run.paused) && vmm !== null;
  // Probed here, so a bot serving right after vm-setup or start reads as running even before its
  // supervisor's own health poll has recorded it.
  const health = paused
    ? "unknown"
    : vmm === null
      ? "down"
      : (await healthOk(r.hostPort, probeTimeoutMs(r.accel)))
        ? "ok"
        : "down";
  let state: BotState;
  let lastError = run?.lastError ?? null;
  if (!supervised && vmm === null) state = r.desired === "running" ? "error" : "stopped";
  else if (paused) state = "paused";
  else if (run?.state === "error") state = "error";
  else if (vmm !== null && (run?.healthyAt || health === "ok")) state = "running";
  else state = "starting";
  if (state === "error" && !supervised && !lastError)
    lastError = `nothing runs instance ${r.id} though it should (host restarted?): vm-ctl start ${r.id}, or vm-ctl boot`;
  return {
    id: r.id,
    state,
    vmm: r.vmm,
    accel: r.accel,
    network: r.network,
    ip: r.network === "bridge" ? r.guestIp : null,
    hostPort: r.hostPort,
    health,
    pid: vmm,
    vcpu: r.vcpu,
    memMib: r.memMib,
    model: r.model || null,
    createdAt: r.createdAt,
    desired: r.desired,
    supervisor: r.supervisor,
    supervisorPid: sup,
    tap: r.network === "bridge" ? r.tapName : null,
    sshPort: r.network === "user" ? r.sshPort : null,
    restarts: run?.restarts ?? 0,
    since: vmm !== null ? (run?.since ?? null) : null,
    lastError,
  };
}

/**
 * Every instance's status, probed in parallel. A record that does not parse is left out and
 * reported through `warn`, so one broken file does not hide the other bots.
 */
export async function listBots(
  env: MicrovmEnv,
  warn: (line: string) => void = () => {},
): Promise<BotStatus[]> {
  const records: InstanceRecord[] = [];
  for (const id of listInstanceIds(env)) {
    try {
      records.push(readInstance(env, id));
    } catch (err) {
      warn(`skipping ${id}: ${(err as Error).message}`);
    }
  }
  return Promise.all(records.map((r) => botStatus(env, r)));
}
