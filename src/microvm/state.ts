// An instance's record: the env file under STATE_ROOT/.vm-<id>/ (parsed with a schema, never
// sourced), its gateway token and its provision vars.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { z } from "zod";
import { VmdError } from "../errors.js";
import { checkInstanceId, type MicrovmEnv } from "./env.js";
import { readEnvFile, writeEnvFile, writePrivate } from "./envfile.js";
import { instancePaths, type InstancePaths } from "./paths.js";

const int = (min: number, max: number) =>
  z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(min).max(max));

/** The env file's schema: every key the commands write, as strings on disk. */
const RecordSchema = z.object({
  INSTANCE_ID: z.string().regex(/^[a-z0-9_-]+$/),
  VMM: z.enum(["qemu", "firecracker"]),
  ACCEL: z.enum(["kvm", "tcg"]),
  NETWORK: z.enum(["bridge", "user"]),
  GUEST_IP: z.string(),
  GUEST_MAC: z.string(),
  GATEWAY_IP: z.string(),
  PREFIX: int(8, 30),
  TAP_NAME: z.string().default(""),
  HOST_PORT: int(1, 65535),
  SSH_PORT: int(0, 65535),
  VCPU: int(1, 64),
  MEM_MIB: int(128, 1 << 20),
  MODEL: z.string(),
  KERNEL: z.string(),
  INITRD: z.string().default(""),
  ROOTFS: z.string(),
  DISK_FORMAT: z.enum(["qcow2", "raw"]),
  DESIRED: z.enum(["running", "stopped"]),
  SUPERVISOR: z.enum(["own", "systemd"]),
  CREATED_AT: z.string(),
});

/** One instance as the commands see it. */
export interface InstanceRecord {
  id: string;
  vmm: "qemu" | "firecracker";
  accel: "kvm" | "tcg";
  network: "bridge" | "user";
  /** The guest's address on the bridge (bridge mode), or QEMU's user-network address. */
  guestIp: string;
  guestMac: string;
  gatewayIp: string;
  prefix: number;
  /** Bridge mode only. */
  tapName: string;
  /** `127.0.0.1:<hostPort>` reaches the guest's gateway port 18789. */
  hostPort: number;
  /** User mode: `127.0.0.1:<sshPort>` reaches the guest's SSH; 0 in bridge mode (port 22 on guestIp). */
  sshPort: number;
  vcpu: number;
  memMib: number;
  model: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  diskFormat: "qcow2" | "raw";
  /** What the operator last asked for: `stop` keeps an instance stopped across host restarts. */
  desired: "running" | "stopped";
  supervisor: "own" | "systemd";
  createdAt: string;
}

export function toEnv(r: InstanceRecord): Record<string, string> {
  return {
    INSTANCE_ID: r.id,
    VMM: r.vmm,
    ACCEL: r.accel,
    NETWORK: r.network,
    GUEST_IP: r.guestIp,
    GUEST_MAC: r.guestMac,
    GATEWAY_IP: r.gatewayIp,
    PREFIX: String(r.prefix),
    TAP_NAME: r.tapName,
    HOST_PORT: String(r.hostPort),
    SSH_PORT: String(r.sshPort),
    VCPU: String(r.vcpu),
    MEM_MIB: String(r.memMib),
    MODEL: r.model,
    KERNEL: r.kernel,
    INITRD: r.initrd,
    ROOTFS: r.rootfs,
    DISK_FORMAT: r.diskFormat,
    DESIRED: r.desired,
    SUPERVISOR: r.supervisor,
    CREATED_AT: r.createdAt,
  };
}

function fromEnv(values: Record<string, string>, file: string): InstanceRecord {
  const parsed = RecordSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new VmdError(
      "err_state_corrupt",
      `${file}: ${issue.path.join(".")} ${issue.message}`,
      "restore the file from a backup, or destroy the instance with --force",
    );
  }
  const v = parsed.data;
  return {
    id: v.INSTANCE_ID,
    vmm: v.VMM,
    accel: v.ACCEL,
    network: v.NETWORK,
    guestIp: v.GUEST_IP,
    guestMac: v.GUEST_MAC,
    gatewayIp: v.GATEWAY_IP,
    prefix: v.PREFIX,
    tapName: v.TAP_NAME,
    hostPort: v.HOST_PORT,
    sshPort: v.SSH_PORT,
    vcpu: v.VCPU,
    memMib: v.MEM_MIB,
    model: v.MODEL,
    kernel: v.KERNEL,
    initrd: v.INITRD,
    rootfs: v.ROOTFS,
    diskFormat: v.DISK_FORMAT,
    desired: v.DESIRED,
    supervisor: v.SUPERVISOR,
    createdAt: v.CREATED_AT,
  };
}

export function instanceExists(env: MicrovmEnv, id: string): boolean {
  return existsSync(instancePaths(env, id).envFile);
}

/**
 * Reads an instance's record.
 * @throws VmdError err_instance_not_found when there is none; err_state_corrupt when it does not parse
 */
export function readInstance(env: MicrovmEnv, id: string): InstanceRecord {
  checkInstanceId(id);
  const p = instancePaths(env, id);
  if (!existsSync(p.envFile))
    throw new VmdError(
      "err_instance_not_found",
      `no instance ${id} in ${env.stateRoot}`,
      "list instances with `vm-ctl list` (or set STATE_ROOT to where they live)",
    );
  const record = fromEnv(readEnvFile(p.envFile), p.envFile);
  if (record.id !== id)
    throw new VmdError(
      "err_state_corrupt",
      `${p.envFile} names instance ${record.id}, not ${id}`,
      "restore the file from a backup",
    );
  return record;
}

export function writeInstance(env: MicrovmEnv, record: InstanceRecord): void {
  writeEnvFile(instancePaths(env, record.id).envFile, toEnv(record));
}

/** Every instance id under STATE_ROOT, sorted. Folders that are not instances are ignored. */
export function listInstanceIds(env: MicrovmEnv): string[] {
  if (!existsSync(env.stateRoot)) return [];
  return readdirSync(env.stateRoot)
    .filter((n) => n.startsWith(".vm-"))
    .map((n) => n.slice(4))
    .filter((id) => /^[a-z0-9_-]+$/.test(id) && existsSync(instancePaths(env, id).envFile))
    .sort();
}

export function readToken(p: InstancePaths): string {
  if (!existsSync(p.tokenFile))
    throw new VmdError(
      "err_state_corrupt",
      `${p.tokenFile} is missing`,
      `the token cannot be made again in place: \`vm-ctl destroy ${p.id} --force\`, then vm-setup`,
    );
  return readFileSync(p.tokenFile, "utf8").trim();
}

export function writeToken(p: InstancePaths, token: string): void {
  writePrivate(p.tokenFile, `${token}\n`);
}
