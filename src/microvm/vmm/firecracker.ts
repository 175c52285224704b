// The Firecracker driver: one `firecracker --api-sock` process per guest, configured through its
// API (machine config, boot source, drives, network interfaces, entropy, InstanceStart), stopped
// with SendCtrlAltDel, paused and snapshotted with PATCH /vm and /snapshot/create, restored into a
// fresh process with /snapshot/load. Firecracker snapshots hold memory and device state but not the
// disk, so the disk is copied beside them while the guest is paused.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import { runOrThrow } from "../../sys/exec.js";
import { writePrivate } from "../envfile.js";
import { firecrackerCall } from "./firecracker-api.js";
import { spawnVmm, waitReady } from "./launch.js";
import type { LaunchOptions, SnapshotInfo, VmmDriver, VmSpec } from "./types.js";

export const FIRECRACKER_BINARY = "firecracker";

/** The seed's "Firecracker config" for `spec`: the same keys as `firecracker --config-file`. */
export function firecrackerConfig(spec: VmSpec): Record<string, unknown> {
  if (spec.net.mode === "user")
    throw new VmdError(
      "err_bad_flag",
      "Firecracker has no user-mode network",
      "use --network bridge, or --vmm qemu for --network user",
    );
  for (const d of spec.disks)
    if (d.format !== "raw")
      throw new VmdError(
        "err_bad_flag",
        `Firecracker needs raw disks; ${d.path} is ${d.format}`,
        "pass a raw ext4 image as --base-rootfs",
      );
  return {
    "boot-source": {
      kernel_image_path: spec.kernel,
      boot_args: spec.bootArgs,
      ...(spec.initrd ? { initrd_path: spec.initrd } : {}),
    },
    drives: spec.disks.map((d, i) => ({
      drive_id: d.id,
      path_on_host: d.path,
      is_root_device: i === 0,
      is_read_only: d.readOnly,
    })),
    "machine-config": { vcpu_count: spec.vcpu, mem_size_mib: spec.memMib, smt: false },
    "network-interfaces":
      spec.net.mode === "tap"
        ? [{ iface_id: "eth0", host_dev_name: spec.net.tap, guest_mac: spec.net.mac }]
        : [],
    entropy: {},
  };
}

function snapshotFiles(spec: VmSpec, name: string) {
  const dir = join(spec.snapshotDir, name);
  return {
    dir,
    state: join(dir, "vmstate"),
    memory: join(dir, "memory"),
    disk: join(dir, "disk"),
    meta: join(dir, "meta.json"),
  };
}

/** A sparse copy that shares blocks where the filesystem can (reflink). */
async function copyDisk(from: string, to: string): Promise<void> {
  await runOrThrow(
    "cp",
    ["--sparse=always", "--reflink=auto", from, to],
    `copying ${from}`,
    "check free disk space under FC_ROOT",
  );
}

export class FirecrackerDriver implements VmmDriver {
  readonly kind = "firecracker" as const;
  constructor(private readonly binary = FIRECRACKER_BINARY) {}

  private api(spec: VmSpec, method: "GET" | "PUT" | "PATCH", path: string, body?: unknown) {
    return firecrackerCall(spec.controlSocket, method, path, body);
  }

  async launch(spec: VmSpec, opts: LaunchOptions) {
    const config = firecrackerConfig(spec);
    const snap = opts.restore ? snapshotFiles(spec, opts.restore) : null;
    if (snap && !existsSync(snap.state))
      throw new VmdError(
        "err_snapshot_not_found",
        `no snapshot ${opts.restore}`,
        "list them with `vm-ctl snapshots <id>`",
      );
    rmSync(spec.controlSocket, { force: true });
    const child = spawnVmm(
      opts.binary ?? this.binary,
      ["--api-sock", spec.controlSocket, "--id", spec.id],
      spec.serialLog,
      opts.logFile,
    );
    try {
      await waitReady(
        child,
        async () =>
          existsSync(spec.controlSocket) && (await this.api(spec, "GET", "/")).status === 200,
        "Firecracker",
        opts.logFile,
      );
      if (snap) {
        await copyDisk(snap.disk, spec.disks[0]!.path);
        await this.api(spec, "PUT", "/snapshot/load", {
          snapshot_path: snap.state,
          mem_backend: { backend_type: "File", backend_path: snap.memory },
          resume_vm: true,
        });
        return child;
      }
      await this.api(spec, "PUT", "/machine-config", config["machine-config"]);
      await this.api(spec, "PUT", "/boot-source", config["boot-source"]);
      for (const d of config.drives as { drive_id: string }[])
        await this.api(spec, "PUT", `/drives/${d.drive_id}`, d);
      for (const n of config["network-interfaces"] as { iface_id: string }[])
        await this.api(spec, "PUT", `/network-interfaces/${n.iface_id}`, n);
      await this.api(spec, "PUT", "/entropy", config.entropy);
      await this.api(spec, "PUT", "/actions", { action_type: "InstanceStart" });
      return child;
    } catch (err) {
      child.kill("SIGKILL");
      throw err;
    }
  }

  async requestShutdown(spec: VmSpec) {
    // The guest's i8042 sees Ctrl-Alt-Del; Firecracker exits when the guest resets.
    await this.api(spec, "PUT", "/actions", { action_type: "SendCtrlAltDel" });
  }

  async pause(spec: VmSpec) {
    await this.api(spec, "PATCH", "/vm", { state: "Paused" });
  }

  async resume(spec: VmSpec) {
    await this.api(spec, "PATCH", "/vm", { state: "Resumed" });
  }

  async runState(spec: VmSpec) {
    const info = (await this.api(spec, "GET", "/")).body as { state?: string };
    return info.state === "Paused" ? ("paused" as const) : ("running" as const);
  }

  async snapshot(spec: VmSpec, name: string): Promise<SnapshotInfo> {
    const f = snapshotFiles(spec, name);
    const wasRunning = (await this.runState(spec)) === "running";
    rmSync(f.dir, { recursive: true, force: true });
    mkdirSync(f.dir, { recursive: true, mode: 0o700 });
    if (wasRunning) await this.pause(spec);
    try {
      await this.api(spec, "PUT", "/snapshot/create", {
        snapshot_type: "Full",
        snapshot_path: f.state,
        mem_file_path: f.memory,
      });
      await copyDisk(spec.disks[0]!.path, f.disk);
    } catch (err) {
      rmSync(f.dir, { recursive: true, force: true });
      throw err;
    } finally {
      if (wasRunning) await this.resume(spec);
    }
    const info: SnapshotInfo = {
      name,
      createdAt: new Date().toISOString(),
      memoryBytes: existsSync(f.memory) ? statSync(f.memory).size : 0,
    };
    writePrivate(f.meta, JSON.stringify(info));
    return info;
  }

  async listSnapshots(spec: VmSpec): Promise<SnapshotInfo[]> {
    if (!existsSync(spec.snapshotDir)) return [];
    return readdirSync(spec.snapshotDir)
      .map((n) => snapshotFiles(spec, n).meta)
      .filter((m) => existsSync(m))
      .map((m) => JSON.parse(readFileSync(m, "utf8")) as SnapshotInfo)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async deleteSnapshot(spec: VmSpec, name: string) {
    const f = snapshotFiles(spec, name);
    if (!existsSync(f.meta))
      throw new VmdError(
        "err_snapshot_not_found",
        `no snapshot ${name}`,
        "list them with `vm-ctl snapshots <id>`",
      );
    rmSync(f.dir, { recursive: true, force: true });
  }
}
