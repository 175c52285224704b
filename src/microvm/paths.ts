// Where an instance's files live: the seed's two places, repo-local state and the host tree.
import { join } from "node:path";
import type { MicrovmEnv } from "./env.js";

/** Every file of one instance. Secrets (token, provision.env, seed.img, host key) are mode 0600. */
export interface InstancePaths {
  id: string;
  /** `STATE_ROOT/.vm-<id>/`: env file, token, provision vars. */
  stateDir: string;
  envFile: string;
  tokenFile: string;
  provisionFile: string;
  /** `FC_ROOT/<id>/`: disks, seed, VMM config, sockets, logs, snapshots. */
  vmDir: string;
  disk(format: "qcow2" | "raw"): string;
  seedImage: string;
  vmmConfig: string;
  hostKey: string;
  knownHosts: string;
  logs: { dir: string; serial: string; vmm: string; supervisor: string };
  run: {
    dir: string;
    supervisorPid: string;
    vmmPid: string;
    status: string;
    qmpSocket: string;
    apiSocket: string;
    /** Present while the guest is paused by `vm-ctl pause`. */
    paused: string;
    /** Names the snapshot the next VMM start restores instead of booting. */
    restore: string;
  };
  snapshots: string;
}

export function instancePaths(env: MicrovmEnv, id: string): InstancePaths {
  const stateDir = join(env.stateRoot, `.vm-${id}`);
  const vmDir = join(env.fcRoot, id);
  const run = join(vmDir, "run");
  const logs = join(vmDir, "logs");
  return {
    id,
    stateDir,
    envFile: join(stateDir, "env"),
    tokenFile: join(stateDir, "token"),
    provisionFile: join(stateDir, "provision.env"),
    vmDir,
    disk: (format) => join(vmDir, format === "qcow2" ? "rootfs.qcow2" : "rootfs.ext4"),
    seedImage: join(vmDir, "seed.img"),
    vmmConfig: join(vmDir, "vmm.json"),
    hostKey: join(vmDir, "ssh_host_ed25519_key"),
    knownHosts: join(vmDir, "known_hosts"),
    logs: {
      dir: logs,
      serial: join(logs, "serial.log"),
      vmm: join(logs, "vmm.log"),
      supervisor: join(logs, "supervisor.log"),
    },
    run: {
      dir: run,
      supervisorPid: join(run, "supervisor.pid"),
      vmmPid: join(run, "vmm.pid"),
      status: join(run, "status.json"),
      qmpSocket: join(run, "qmp.sock"),
      apiSocket: join(run, "api.sock"),
      paused: join(run, "paused"),
      restore: join(run, "restore"),
    },
    snapshots: join(vmDir, "snapshots"),
  };
}

/** The repo-wide lock that serialises IP and port allocation (and network set-up). */
export function allocationLock(env: MicrovmEnv): string {
  return join(env.stateRoot, ".lock");
}

/** What the host's network set-up created (bridge, NAT rules), so the last destroy removes it. */
export function networkRecord(env: MicrovmEnv): string {
  return join(env.stateRoot, ".network.json");
}
