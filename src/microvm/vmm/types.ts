// One interface over the two VMMs: Firecracker (API over a Unix socket, KVM only) and QEMU
// (`-machine microvm`, QMP; KVM or software emulation).
import type { ChildProcess } from "node:child_process";
import { z } from "zod";

export const DiskSchema = z.object({
  /** The guest sees disks in this order: vda, vdb, ... */
  id: z.string().regex(/^[a-z0-9_]+$/),
  path: z.string(),
  format: z.enum(["qcow2", "raw"]),
  readOnly: z.boolean(),
});

/** What a VMM needs to run one guest; stored as FC_ROOT/<id>/vmm.json. */
export const VmSpecSchema = z.object({
  id: z.string(),
  vmm: z.enum(["qemu", "firecracker"]),
  accel: z.enum(["kvm", "tcg"]),
  vcpu: z.number().int().min(1).max(32),
  memMib: z.number().int().min(64),
  kernel: z.string(),
  initrd: z.string().optional(),
  bootArgs: z.string(),
  disks: z.array(DiskSchema).min(1),
  net: z.discriminatedUnion("mode", [
    z.object({ mode: z.literal("tap"), tap: z.string(), mac: z.string() }),
    z.object({
      mode: z.literal("user"),
      mac: z.string(),
      /** 127.0.0.1:hostPort on the host → guestPort in the guest. */
      forwards: z.array(z.object({ hostPort: z.number().int(), guestPort: z.number().int() })),
    }),
    z.object({ mode: z.literal("none") }),
  ]),
  /** QMP socket (QEMU) or API socket (Firecracker). */
  controlSocket: z.string(),
  /** The guest's serial console goes here. */
  serialLog: z.string(),
  /** Firecracker only: where snapshots (state, memory, disk copy) are kept. */
  snapshotDir: z.string(),
});

export type VmSpec = z.infer<typeof VmSpecSchema>;
export type DiskSpec = z.infer<typeof DiskSchema>;

export interface SnapshotInfo {
  name: string;
  /** ISO time the snapshot was taken. */
  createdAt: string;
  /** Bytes of guest memory state saved. */
  memoryBytes: number;
}

export interface LaunchOptions {
  /** Restore this snapshot instead of booting. */
  restore?: string;
  /** The VMM's own stdout/stderr go here (append). */
  logFile: string;
  /** The binary to run; the driver's default when left out. */
  binary?: string;
}

/** A VMM: starts guests and controls them through their control socket. */
export interface VmmDriver {
  readonly kind: "qemu" | "firecracker";
  /**
   * Starts the VMM for `spec` and returns once the guest is booting (or restored and running).
   * The child stays attached: its exit is the guest's end.
   * @throws VmdError when the VMM refuses the configuration
   */
  launch(spec: VmSpec, opts: LaunchOptions): Promise<ChildProcess>;
  /** Asks the guest to shut down (ACPI power button / Ctrl-Alt-Del); does not wait. */
  requestShutdown(spec: VmSpec): Promise<void>;
  pause(spec: VmSpec): Promise<void>;
  resume(spec: VmSpec): Promise<void>;
  /** Whether the vCPUs run. */
  runState(spec: VmSpec): Promise<"running" | "paused">;
  /** Full memory + device state + disk, under `name`, while the guest keeps running after. */
  snapshot(spec: VmSpec, name: string): Promise<SnapshotInfo>;
  listSnapshots(spec: VmSpec): Promise<SnapshotInfo[]>;
  deleteSnapshot(spec: VmSpec, name: string): Promise<void>;
}

/** Snapshot names: a file name and an HMP argument, so a small safe alphabet. */
export const SNAPSHOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
