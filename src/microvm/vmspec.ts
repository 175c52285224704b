// An instance's VMM configuration (FC_ROOT/<id>/vmm.json): derived from its record when it is
// created or re-provisioned, read by whoever starts its VMM.
import { existsSync, readFileSync } from "node:fs";
import { VmdError } from "../errors.js";
import { writePrivate } from "./envfile.js";
import { GATEWAY_PORT } from "./guest/openclaw.js";
import type { InstancePaths } from "./paths.js";
import type { InstanceRecord } from "./state.js";
import { FirecrackerDriver } from "./vmm/firecracker.js";
import { QemuDriver } from "./vmm/qemu.js";
import { VmSpecSchema, type VmmDriver, type VmSpec } from "./vmm/types.js";

/** Kernel arguments of every vmdemo guest; Firecracker's own advice adds reboot=k. */
export function bootArgs(vmm: "qemu" | "firecracker"): string {
  return [
    "console=ttyS0",
    "root=/dev/vda",
    "rw",
    "panic=1",
    "pci=off",
    "quiet",
    ...(vmm === "firecracker" ? ["reboot=k"] : []),
  ].join(" ");
}

/** The VMM configuration for `r` (pure). */
export function specFor(r: InstanceRecord, p: InstancePaths): VmSpec {
  return {
    id: r.id,
    vmm: r.vmm,
    accel: r.accel,
    vcpu: r.vcpu,
    memMib: r.memMib,
    kernel: r.kernel,
    ...(r.initrd ? { initrd: r.initrd } : {}),
    bootArgs: bootArgs(r.vmm),
    disks: [
      { id: "rootfs", path: p.disk(r.diskFormat), format: r.diskFormat, readOnly: false },
      { id: "seed", path: p.seedImage, format: "raw", readOnly: true },
    ],
    net:
      r.network === "bridge"
        ? { mode: "tap", tap: r.tapName, mac: r.guestMac }
        : {
            mode: "user",
            mac: r.guestMac,
            forwards: [
              { hostPort: r.hostPort, guestPort: GATEWAY_PORT },
              { hostPort: r.sshPort, guestPort: 22 },
            ],
          },
    controlSocket: r.vmm === "qemu" ? p.run.qmpSocket : p.run.apiSocket,
    serialLog: p.logs.serial,
    snapshotDir: p.snapshots,
  };
}

export function writeSpec(p: InstancePaths, spec: VmSpec): void {
  writePrivate(p.vmmConfig, `${JSON.stringify(spec, null, 2)}\n`, 0o600);
}

/**
 * Reads FC_ROOT/<id>/vmm.json.
 * @throws VmdError err_state_corrupt
 */
export function readSpec(p: InstancePaths): VmSpec {
  if (!existsSync(p.vmmConfig))
    throw new VmdError(
      "err_state_corrupt",
      `${p.vmmConfig} is missing`,
      `re-create the instance (vm-ctl destroy ${p.id} --force, then vm-setup)`,
    );
  const parsed = VmSpecSchema.safeParse(JSON.parse(readFileSync(p.vmmConfig, "utf8")));
  if (!parsed.success)
    throw new VmdError(
      "err_state_corrupt",
      `${p.vmmConfig}: ${parsed.error.issues[0]!.path.join(".")} ${parsed.error.issues[0]!.message}`,
      `re-create the instance (vm-ctl destroy ${p.id} --force, then vm-setup)`,
    );
  return parsed.data;
}

/** The driver for a VMM kind; `FIRECRACKER_BIN` / `QEMU_BIN` name other binaries. */
export function driverFor(kind: "qemu" | "firecracker", env = process.env): VmmDriver {
  return kind === "qemu"
    ? new QemuDriver(env.QEMU_BIN || undefined)
    : new FirecrackerDriver(env.FIRECRACKER_BIN || undefined);
}
