// The QEMU driver: `-machine microvm` with virtio-mmio devices, KVM when it works and software
// emulation (TCG) otherwise; QMP for graceful stop, pause and snapshots. Snapshots are internal to
// the instance's qcow2 disk (`savevm`: memory, device state and disk in one), restored at start
// with `-loadvm`. Facts this relies on are in HOST-NOTES ("MicroVMs").
import { existsSync, readFileSync, rmSync } from "node:fs";
import { VmdError } from "../../errors.js";
import { run, runOrThrow } from "../../sys/exec.js";
import { spawnVmm, waitReady } from "./launch.js";
import { qmpConnect, withQmp } from "./qmp.js";
import type { LaunchOptions, SnapshotInfo, VmmDriver, VmSpec } from "./types.js";

export const QEMU_BINARY = "qemu-system-x86_64";

/**
 * The host's TSC frequency in kHz, for the guest's `tsc_early_khz=`: without it about half of
 * the TCG boots of `-machine microvm` hang calibrating the clock (HOST-NOTES).
 */
export function hostTscKhz(cpuinfo = readFileSync("/proc/cpuinfo", "utf8")): number | null {
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo);
  return m ? Math.round(Number(m[1]) * 1000) : null;
}

/**
 * The command line for `spec` (pure). `restore` names an internal snapshot to resume from.
 * Emulated guests get `tsc=reliable`: their vCPUs' TSCs look unsynchronised to the kernel's check,
 * which then falls back to jiffies, and a jiffies clock loses time whenever the host is busy (the
 * guest's clock ran at a third of real time on a loaded host). The TSC under TCG is the host's.
 */
export function qemuArgs(spec: VmSpec, restore?: string, tscKhz: number | null = null): string[] {
  const tcg = spec.accel === "tcg";
  const timing = tcg ? [...(tscKhz ? [`tsc_early_khz=${tscKhz}`] : []), "tsc=reliable"] : [];
  const append = [spec.bootArgs, ...timing].join(" ");
  const args = [
    "-name",
    `vmdemo-${spec.id},process=vmdemo-${spec.id}`,
    // pit/pic/rtc: the Debian kernel's timer calibration needs them on microvm (HOST-NOTES).
    "-machine",
    "microvm,pit=on,pic=on,rtc=on,acpi=on",
    "-accel",
    tcg ? "tcg,thread=multi" : "kvm",
    "-cpu",
    tcg ? "max" : "host",
    "-m",
    String(spec.memMib),
    "-smp",
    String(spec.vcpu),
    "-nodefaults",
    "-no-user-config",
    "-nographic",
    "-chardev",
    `file,id=console,path=${spec.serialLog},append=on`,
    "-serial",
    "chardev:console",
    "-kernel",
    spec.kernel,
    ...(spec.initrd ? ["-initrd", spec.initrd] : []),
    "-append",
    append,
  ];
  for (const d of spec.disks) {
    args.push(
      "-drive",
      `id=${d.id},file=${d.path},format=${d.format},if=none,readonly=${d.readOnly ? "on" : "off"},discard=unmap`,
      "-device",
      `virtio-blk-device,drive=${d.id}`,
    );
  }
  if (spec.net.mode === "tap") {
    args.push(
      "-netdev",
      `tap,id=net0,ifname=${spec.net.tap},script=no,downscript=no`,
      "-device",
      `virtio-net-device,netdev=net0,mac=${spec.net.mac}`,
    );
  } else if (spec.net.mode === "user") {
    const fwd = spec.net.forwards.map(
      (f) => `,hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`,
    );
    args.push(
      "-netdev",
      `user,id=net0${fwd.join("")}`,
      "-device",
      `virtio-net-device,netdev=net0,mac=${spec.net.mac}`,
    );
  }
  args.push(
    "-device",
    "virtio-rng-device",
    "-qmp",
    `unix:${spec.controlSocket},server=on,wait=off`,
  );
  if (restore) args.push("-loadvm", restore);
  return args;
}

function rootQcow2(spec: VmSpec): string {
  const root = spec.disks[0]!;
  if (root.format !== "qcow2")
    throw new VmdError(
      "err_snapshot_unsupported",
      "QEMU snapshots live in the instance's qcow2 disk, and this one is raw",
      "re-create the instance with vm-setup (it makes a qcow2 disk)",
    );
  return root.path;
}

/** `savevm`/`loadvm`/`delvm` answer errors as text (HMP); empty output is success. */
function hmpOk(what: string, out: string): void {
  const text = out.trim();
  if (text)
    throw new VmdError(
      "err_snapshot",
      `${what}: ${text.split("\n")[0]}`,
      "a VM with a 9p or virtiofs share cannot be snapshotted; read the message for others",
    );
}

export class QemuDriver implements VmmDriver {
  readonly kind = "qemu" as const;
  constructor(private readonly binary = QEMU_BINARY) {}

  async launch(spec: VmSpec, opts: LaunchOptions) {
    rmSync(spec.controlSocket, { force: true });
    const args = qemuArgs(spec, opts.restore, spec.accel === "tcg" ? hostTscKhz() : null);
    const child = spawnVmm(opts.binary ?? this.binary, args, opts.logFile, opts.logFile);
    await waitReady(
      child,
      async () => {
        if (!existsSync(spec.controlSocket)) return false;
        const q = await qmpConnect(spec.controlSocket, 2000);
        q.close();
        return true;
      },
      "QEMU",
      opts.logFile,
      120_000,
    );
    return child;
  }

  async requestShutdown(spec: VmSpec) {
    await withQmp(spec.controlSocket, (q) => q.execute("system_powerdown"));
  }

  async pause(spec: VmSpec) {
    await withQmp(spec.controlSocket, (q) => q.execute("stop"));
  }

  async resume(spec: VmSpec) {
    await withQmp(spec.controlSocket, (q) => q.execute("cont"));
  }

  async runState(spec: VmSpec) {
    const s = (await withQmp(spec.controlSocket, (q) => q.execute("query-status"))) as {
      running: boolean;
    };
    return s.running ? ("running" as const) : ("paused" as const);
  }

  async snapshot(spec: VmSpec, name: string): Promise<SnapshotInfo> {
    rootQcow2(spec);
    // savevm stops the vCPUs while memory is written and restarts them if they were running.
    await withQmp(
      spec.controlSocket,
      async (q) => hmpOk(`savevm ${name}`, await q.hmp(`savevm ${name}`)),
      600_000,
    );
    const found = (await this.listSnapshots(spec)).find((s) => s.name === name);
    if (!found)
      throw new VmdError("err_snapshot", `savevm ${name} left no snapshot`, "read the VMM log");
    return found;
  }

  async listSnapshots(spec: VmSpec): Promise<SnapshotInfo[]> {
    const disk = rootQcow2(spec);
    if (!existsSync(disk)) return [];
    // -U: the running QEMU holds the image's lock; reading its snapshot table is safe.
    const res = await runOrThrow(
      "qemu-img",
      ["info", "-U", "--output=json", disk],
      "reading the disk's snapshots",
      "install qemu-utils",
    );
    const info = JSON.parse(res.stdout) as {
      snapshots?: { name: string; "date-sec": number; "vm-state-size": number }[];
    };
    return (info.snapshots ?? [])
      .filter((s) => s["vm-state-size"] > 0)
      .map((s) => ({
        name: s.name,
        createdAt: new Date(s["date-sec"] * 1000).toISOString(),
        memoryBytes: s["vm-state-size"],
      }));
  }

  async deleteSnapshot(spec: VmSpec, name: string) {
    const disk = rootQcow2(spec);
    const live = existsSync(spec.controlSocket)
      ? await withQmp(spec.controlSocket, async (q) =>
          hmpOk(`delvm ${name}`, await q.hmp(`delvm ${name}`)),
        ).then(
          () => true,
          () => false,
        )
      : false;
    if (live) return;
    const res = await run("qemu-img", ["snapshot", "-d", name, disk]);
    if (res.code !== 0)
      throw new VmdError(
        "err_snapshot",
        `deleting snapshot ${name}: ${res.stderr.trim()}`,
        "list them with `vm-ctl snapshots <id>`",
      );
  }
}
