// vm-setup (seed: "vm-setup creates a new instance"): everything is checked first; then address
// and port are allocated under the lock, the instance's disk, seed and VMM config written, the VM
// booted under its supervisor (or systemd), SSH awaited, OpenClaw provisioned, and both health
// gates passed (in the guest, then through 127.0.0.1:<port>). Any failure rolls back everything
// this run created, logging a rollback step that fails, and rethrows the original error.
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { errorMessage, VmdError } from "../errors.js";
import type { Progress } from "../progress.js";
import { detectPlatform } from "../sys/platform.js";
import { checkRequestedPort, pickGuestIp, pickPorts } from "./alloc.js";
import type { MicrovmEnv } from "./env.js";
import { planSetup, type RawSetupOptions, type SetupPlan } from "./flags.js";
import { provisionGuest } from "./guest/provision.js";
import { sshRun, waitForSsh } from "./guest/ssh.js";
import { checkUserImages, resolveBaseImages } from "./images/base.js";
import {
  destroyInstance,
  USER_NET,
  writeInstanceFiles,
  writeProvisionOptions,
} from "./instance.js";
import { spawnSupervisor, vmCtlScript } from "./lifecycle.js";
import { withLock } from "./lock.js";
import { macForIp } from "./net/cidr.js";
import { waitHealthy } from "./net/health.js";
import { checkBridgeAllowed, ensureBridge, ensureTap, tapName } from "./net/host-net.js";
import { allocationLock, instancePaths, type InstancePaths } from "./paths.js";
import { supervisorPid } from "./run-state.js";
import { chooseVmm } from "./select.js";
import {
  instanceExists,
  listInstanceIds,
  readInstance,
  writeInstance,
  writeToken,
  type InstanceRecord,
} from "./state.js";
import { installUnits, systemdRuns } from "./units.js";

export interface SetupResult {
  record: InstanceRecord;
  /** Why this VMM and accelerator. */
  why: string;
  seconds: { images: number; boot: number; provision: number; total: number };
  warnings: string[];
}

function others(env: MicrovmEnv): InstanceRecord[] {
  return listInstanceIds(env).flatMap((id) => {
    try {
      return [readInstance(env, id)];
    } catch {
      return [];
    }
  });
}

/**
 * The checks that need the host but change nothing on it.
 * @throws VmdError the first problem, with its fix
 */
export async function preflight(env: MicrovmEnv, plan: SetupPlan): Promise<void> {
  if (instanceExists(env, plan.id))
    throw new VmdError(
      "err_instance_exists",
      `instance ${plan.id} exists already`,
      `pick another --instance, or re-provision it with vm-ctl provision ${plan.id}`,
    );
  if (plan.network === "bridge") checkBridgeAllowed(detectPlatform().isRoot);
  checkUserImages({ ...plan, browser: plan.provision.browser });
  const all = others(env);
  if (plan.hostPort !== null) await checkRequestedPort(plan.hostPort, all);
  if (plan.network === "bridge") pickGuestIp(env, all);
  await chooseVmm(env, plan);
}

/** What the gateway looks like from inside the guest (for an error message); never throws. */
async function guestHealth(env: MicrovmEnv, r: InstanceRecord, p: InstancePaths): Promise<string> {
  const res = await sshRun(
    env,
    r,
    p,
    `printf '/health %s, ' "$(curl -s -o /dev/null -m 5 -w '%{http_code}' http://127.0.0.1:18789/health)"; printf 'on ${r.guestIp} %s, ' "$(curl -s -o /dev/null -m 5 -w '%{http_code}' http://${r.guestIp}:18789/health)"; printf 'service %s, restarts %s' "$(systemctl is-active openclaw-${r.id})" "$(systemctl show -p NRestarts --value openclaw-${r.id})"`,
    { timeoutMs: 60_000 },
  );
  return res.code === 0
    ? res.stdout.trim()
    : `not reachable over SSH (${res.stderr.trim().split("\n").at(-1) ?? ""})`;
}

export interface AllocationRequest {
  id: string;
  network: "bridge" | "user";
  hostPort: number | null;
  vcpu: number;
  memMib: number;
  model: string;
  kernel: string;
  initrd: string | null;
  rootfs: string;
  vmm: "qemu" | "firecracker";
  accel: "kvm" | "tcg";
}

/**
 * Allocates address and port under the lock and writes everything the instance needs to boot:
 * record, gateway token, disk, seed, VMM config, bridge and TAP. Pushes its own undo step (the
 * instance's destroy) onto `undo` first thing.
 * @throws VmdError err_instance_exists / err_ip_pool_full / err_port_taken / err_port_pool_full
 */
export async function allocateInstance(
  env: MicrovmEnv,
  a: AllocationRequest,
  undo: { what: string; fn: () => Promise<unknown> }[],
): Promise<InstanceRecord> {
  const p = instancePaths(env, a.id);
  const record = await withLock(allocationLock(env), async () => {
    if (instanceExists(env, a.id))
      throw new VmdError(
        "err_instance_exists",
        `instance ${a.id} exists already`,
        "pick another --instance",
      );
    const all = others(env);
    const bridge = a.network === "bridge";
    if (a.hostPort !== null) await checkRequestedPort(a.hostPort, all);
    const ports = a.hostPort !== null ? [a.hostPort] : [];
    ports.push(...(await pickPorts(env, all, (bridge ? 1 : 2) - ports.length)));
    const guestIp = bridge ? pickGuestIp(env, all) : USER_NET.guestIp;
    const hash = createHash("sha256").update(`${env.stateRoot}/${a.id}`).digest("hex");
    const r: InstanceRecord = {
      id: a.id,
      vmm: a.vmm,
      accel: a.accel,
      network: a.network,
      guestIp,
      guestMac: macForIp(guestIp),
      gatewayIp: bridge ? env.bridgeAddr.ip : USER_NET.gatewayIp,
      prefix: bridge ? env.subnet.prefix : USER_NET.prefix,
      tapName: bridge ? tapName(a.id, hash) : "",
      hostPort: ports[0]!,
      sshPort: bridge ? 0 : ports[1]!,
      vcpu: a.vcpu,
      memMib: a.memMib,
      model: a.model,
      kernel: a.kernel,
      initrd: a.initrd ?? "",
      rootfs: a.rootfs,
      diskFormat: a.vmm === "qemu" ? "qcow2" : "raw",
      desired: "running",
      supervisor: systemdRuns() ? "systemd" : "own",
      createdAt: new Date().toISOString(),
    };
    undo.push({ what: "removing the instance", fn: () => destroyInstance(env, a.id) });
    mkdirSync(p.stateDir, { recursive: true, mode: 0o700 });
    writeInstance(env, r);
    if (bridge) await ensureBridge(env);
    return r;
  });
  writeToken(p, randomBytes(32).toString("base64url"));
  await writeInstanceFiles(env, record, a.rootfs);
  if (record.network === "bridge") await ensureTap(env, record.tapName);
  return record;
}

/**
 * Creates, boots and provisions an instance; returns it once its gateway answers /health through
 * the proxy. `timeoutS` bounds boot and provisioning each. `keepOnFailure` skips the rollback, so a
 * failed instance can be inspected (and destroyed by hand).
 */
export async function setupInstance(
  env: MicrovmEnv,
  raw: RawSetupOptions,
  progress: Progress,
  timeoutS: number | null,
  keepOnFailure = false,
): Promise<SetupResult> {
  const t0 = Date.now();
  const plan = planSetup(raw);
  await preflight(env, plan);
  const warnings: string[] = [];

  const images = await resolveBaseImages(
    env,
    { ...plan, browser: plan.provision.browser },
    progress,
  );
  const tImages = Date.now();
  if (images.skills) {
    const unknown = plan.provision.skills.filter((s) => !images.skills!.includes(s));
    if (unknown.length)
      warnings.push(
        `skills not bundled with OpenClaw ${images.openclawVersion}, so not enabled: ${unknown.join(", ")}`,
      );
  }
  const choice = await chooseVmm(env, plan, images.kernel);
  const timeoutMs = (timeoutS ?? (choice.accel === "tcg" ? 2400 : 300)) * 1000;
  const p = instancePaths(env, plan.id);
  const undo: { what: string; fn: () => Promise<unknown> }[] = [];
  const task = progress.task(`instance ${plan.id}`);
  try {
    task.update("address, port, disk, seed and VMM config", 0.05);
    const record = await allocateInstance(
      env,
      {
        id: plan.id,
        network: plan.network,
        hostPort: plan.hostPort,
        vcpu: plan.vcpu,
        memMib: plan.memMib,
        model: plan.provision.model,
        kernel: images.kernel,
        initrd: images.initrd,
        rootfs: images.rootfs,
        vmm: choice.vmm,
        accel: choice.accel,
      },
      undo,
    );
    writeProvisionOptions(p, { ...raw, instance: plan.id });

    task.update(`booting (${choice.vmm}, ${choice.accel})`, 0.15);
    const tBoot = Date.now();
    if (record.supervisor === "systemd")
      await installUnits(env, record, process.execPath, vmCtlScript(), true);
    else await spawnSupervisor(env, plan.id);
    const alive = () => record.supervisor === "systemd" || supervisorPid(p) !== null;
    await waitForSsh(env, record, p, timeoutMs, alive);
    const bootS = (Date.now() - tBoot) / 1000;

    task.update("provisioning OpenClaw", 0.4);
    const tProv = Date.now();
    const token = readFileSync(p.tokenFile, "utf8").trim();
    await provisionGuest(env, record, p, token, plan.provision, Math.round(timeoutMs / 1000), (l) =>
      task.update(l.slice(0, 60), 0.6),
    );
    task.update("health through the proxy", 0.95);
    await waitHealthy(record.hostPort, timeoutMs, {
      stillAlive: alive,
      what: `instance ${plan.id}`,
    }).catch(async (err: unknown) => {
      throw new VmdError(
        "err_health_timeout",
        `${errorMessage(err)}; in the guest: ${await guestHealth(env, record, p)}`,
        `vm-ctl logs ${plan.id} (guest) and vm-ctl logs ${plan.id} host`,
      );
    });
    const provS = (Date.now() - tProv) / 1000;
    task.done(
      `up on 127.0.0.1:${record.hostPort} (boot ${bootS.toFixed(0)} s, provision ${provS.toFixed(0)} s)`,
    );
    return {
      record,
      why: choice.why,
      seconds: {
        images: (tImages - t0) / 1000,
        boot: bootS,
        provision: provS,
        total: (Date.now() - t0) / 1000,
      },
      warnings,
    };
  } catch (err) {
    task.fail(errorMessage(err));
    if (keepOnFailure) {
      if (undo.length)
        progress.info(
          `kept ${plan.id} for inspection (vm-ctl status/logs/shell ${plan.id}); remove it with vm-ctl destroy ${plan.id} --force`,
        );
      throw err;
    }
    for (const u of undo.reverse()) {
      try {
        const problems = await u.fn();
        if (Array.isArray(problems) && problems.length)
          progress.info(`rollback (${u.what}): ${problems.join("; ")}`);
      } catch (undoErr) {
        progress.info(`rollback (${u.what}) failed: ${errorMessage(undoErr)}`);
      }
    }
    if (existsSync(p.stateDir))
      progress.info(`rollback left ${p.stateDir} behind; remove it by hand`);
    throw err;
  }
}
