// vm-ctl snapshot / restore / snapshots: full memory, device state and disk, so a restored bot
// serves again without booting. Restoring replaces the running VMM (or starts one) with a VMM that
// resumes the snapshot: QEMU `-loadvm` of the qcow2's internal snapshot, Firecracker
// /snapshot/load of the saved state beside a copy of the disk.
import { VmdError } from "../errors.js";
import type { MicrovmEnv } from "./env.js";
import { runOrThrow } from "../sys/exec.js";
import { runningSpec, spawnSupervisor } from "./lifecycle.js";
import { waitHealthy } from "./net/health.js";
import { instancePaths } from "./paths.js";
import { supervisorPid, vmmPid } from "./run-state.js";
import { readInstance, writeInstance } from "./state.js";
import { requestRestore } from "./supervisor.js";
import { setUnitsEnabled, vmUnitName } from "./units.js";
import { driverFor, readSpec } from "./vmspec.js";
import { SNAPSHOT_NAME, type SnapshotInfo } from "./vmm/types.js";

/** `snap-20261130-031500`: the default name, sortable by time. */
export function defaultSnapshotName(now = new Date()): string {
  return `snap-${now.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15)}`;
}

function checkName(name: string): string {
  if (!SNAPSHOT_NAME.test(name))
    throw new VmdError(
      "err_bad_snapshot_name",
      `snapshot name ${JSON.stringify(name)} is not allowed (letters, digits, _ . -; at most 64)`,
      "pick a name such as before-upgrade",
    );
  return name;
}

/** Takes a snapshot of a running instance; returns it with how long the guest was held (ms). */
export async function takeSnapshot(
  env: MicrovmEnv,
  id: string,
  name = defaultSnapshotName(),
): Promise<SnapshotInfo & { ms: number }> {
  checkName(name);
  const { spec } = runningSpec(env, id);
  const t = Date.now();
  const info = await driverFor(spec.vmm).snapshot(spec, name);
  return { ...info, ms: Date.now() - t };
}

export async function listSnapshots(env: MicrovmEnv, id: string): Promise<SnapshotInfo[]> {
  readInstance(env, id);
  const spec = readSpec(instancePaths(env, id));
  return driverFor(spec.vmm).listSnapshots(spec);
}

export async function deleteSnapshot(env: MicrovmEnv, id: string, name: string): Promise<void> {
  readInstance(env, id);
  const spec = readSpec(instancePaths(env, id));
  await driverFor(spec.vmm).deleteSnapshot(spec, checkName(name));
}

/**
 * Restores snapshot `name` (default: the newest) and waits until the gateway answers /health
 * through the proxy. Returns the snapshot and the milliseconds until healthy.
 * @throws VmdError err_snapshot_not_found
 */
export async function restoreSnapshot(
  env: MicrovmEnv,
  id: string,
  name: string | undefined,
  waitMs: number,
): Promise<{ name: string; ms: number }> {
  const r = readInstance(env, id);
  const p = instancePaths(env, id);
  const all = await listSnapshots(env, id);
  const snap = name ? all.find((s) => s.name === name) : all.at(-1);
  if (!snap)
    throw new VmdError(
      "err_snapshot_not_found",
      name ? `instance ${id} has no snapshot ${name}` : `instance ${id} has no snapshots`,
      `take one with vm-ctl snapshot ${id} [name]; list them with vm-ctl snapshots ${id}`,
    );
  const spec = readSpec(p);
  const before = vmmPid(p, spec.controlSocket);
  const t = Date.now();
  requestRestore(p, snap.name);
  writeInstance(env, { ...r, desired: "running" });
  const sup = supervisorPid(p);
  if (r.supervisor === "systemd") {
    await setUnitsEnabled(r, true, false);
    await runOrThrow(
      "systemctl",
      ["restart", vmUnitName(id)],
      "systemctl restart",
      "check the unit",
    );
  } else if (sup) process.kill(sup, "SIGHUP");
  else await spawnSupervisor(env, id);
  // Health only counts once the VMM that resumes the snapshot has replaced the old one.
  const deadline = Date.now() + waitMs;
  for (;;) {
    const now = vmmPid(p, spec.controlSocket);
    if (now !== null && now !== before) break;
    if (Date.now() > deadline)
      throw new VmdError(
        "err_restore",
        `no VMM resumed snapshot ${snap.name} of ${id}`,
        `read vm-ctl logs ${id} host`,
      );
    await new Promise((res) => setTimeout(res, 20));
  }
  await waitHealthy(r.hostPort, Math.max(1000, deadline - Date.now()), {
    everyMs: 100,
    what: `instance ${id}`,
  });
  return { name: snap.name, ms: Date.now() - t };
}
