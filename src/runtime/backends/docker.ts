import { createServer } from "node:net";
import { join } from "node:path";
import { errorMessage, VmdError } from "../../errors.js";
import type { DockerClient } from "../docker/client.js";
import { ContainerNotFoundError } from "../docker/errors.js";
import type { Instance, InstanceSpec } from "./instance.js";
import { callRuntime, runtimeAgent } from "./runtime-call.js";

export { DEFAULT_LIMITS, type Limits } from "./limits.js";

const PORT_MIN = 10000;
const PORT_MAX = 20000;

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * The docker backend: one container per process with upstream's hardened config (read-only root,
 * all capabilities dropped, no new privileges, masked and read-only /proc paths, limits), the
 * workspace bound at the same path, and the runtime's 8080 published on 127.0.0.1 only.
 */
export class DockerBackend {
  private readonly reserved = new Set<number>();

  /** `log` hears what cleanup after a failed create could not do (the create's own error is thrown). */
  constructor(
    private readonly client: DockerClient,
    private readonly log: (line: string) => void = () => {},
  ) {}

  private async allocatePort(): Promise<number> {
    for (let p = PORT_MIN; p <= PORT_MAX; p++) {
      if (this.reserved.has(p)) continue;
      this.reserved.add(p);
      if (await portFree(p)) return p;
      this.reserved.delete(p);
    }
    throw new VmdError(
      "err_no_port",
      `no free port in ${PORT_MIN}-${PORT_MAX} on 127.0.0.1`,
      "stop some processes",
    );
  }

  /**
   * Creates and starts the instance. `beforeStart` runs between create and start (a CRIU restore
   * places the checkpoint then); with `checkpoint` the container starts from that engine checkpoint.
   */
  async create(
    spec: InstanceSpec,
    restoreFrom?: { checkpoint: string; place: (containerId: string) => Promise<void> },
  ): Promise<Instance> {
    if (spec.argv.length === 0)
      throw new VmdError(
        "err_bad_start_command",
        "the start command is empty",
        "set Start-Command in the module or the spawn",
      );
    // Another node on this host may publish the port this one found free a moment ago: then the
    // start fails with "port is already allocated", and the next free port is tried.
    for (let attempt = 1; ; attempt++) {
      const port = await this.allocatePort();
      try {
        return await this.createOn(port, spec, restoreFrom);
      } catch (err) {
        if (attempt >= 5 || !/port is already allocated/.test(errorMessage(err))) throw err;
        // that port stays reserved: someone else holds it
      }
    }
  }

  private async createOn(
    port: number,
    spec: InstanceSpec,
    restoreFrom?: { checkpoint: string; place: (containerId: string) => Promise<void> },
  ): Promise<Instance> {
    const existing = await this.client.findContainer(spec.name);
    if (existing) await this.client.removeContainer(existing.Id, { force: true });
    let id: string;
    try {
      id = await this.client.createContainer({
        name: spec.name,
        Image: spec.image,
        Entrypoint: [spec.argv[0]!],
        Cmd: spec.argv.slice(1),
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        WorkingDir: spec.workspace,
        // One hostname for every process container: a restored process runs in a new container,
        // and runtimes that record host + pid in their state (OpenClaw's gateway lease) must be
        // able to tell that the old owner is gone.
        Hostname: "vmdocker",
        ...(spec.user ? { User: spec.user } : {}),
        ExposedPorts: { "8080/tcp": {} },
        Labels: { "org.vmdocker.role": "process" },
        HostConfig: {
          PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] },
          ReadonlyRootfs: true,
          SecurityOpt: ["no-new-privileges:true"],
          CapDrop: ["ALL"],
          MaskedPaths: [
            "/proc/acpi",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/proc/scsi",
            "/sys/firmware",
          ],
          ReadonlyPaths: [
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
            "/proc/asound",
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
          ],
          Memory: spec.limits.memoryBytes,
          MemorySwap: -1,
          PidsLimit: spec.limits.pids,
          CpuPeriod: 100000,
          CpuQuota: Math.round(spec.limits.cpus * 100000),
          CpuShares: 1024,
          Mounts: [
            { Type: "bind", Source: spec.workspace, Target: spec.workspace, ReadOnly: false },
            // A writable /tmp inside the workspace (as later upstream does): tools that ignore
            // TMPDIR (OpenClaw's lock files) still work on the read-only root.
            { Type: "bind", Source: join(spec.workspace, ".tmp"), Target: "/tmp", ReadOnly: false },
          ],
        },
      });
      if (restoreFrom) await restoreFrom.place(id);
      await this.client.startContainer(
        id,
        restoreFrom ? { checkpoint: restoreFrom.checkpoint } : {},
      );
    } catch (err) {
      // A port another node took is left reserved: someone else holds it.
      if (!/port is already allocated/.test(errorMessage(err))) this.reserved.delete(port);
      try {
        const made = await this.client.findContainer(spec.name);
        if (made) await this.client.removeContainer(made.Id, { force: true });
      } catch (cleanup) {
        this.log(`could not remove ${spec.name} after its failed create: ${errorMessage(cleanup)}`);
      }
      throw err;
    }
    const url = `http://127.0.0.1:${port}`;
    const agent = spec.keepAlive ? runtimeAgent() : false;
    return {
      id,
      name: spec.name,
      call: (path, body, timeoutMs) => callRuntime(url, path, body, timeoutMs, agent),
      running: async () => !!(await this.client.findContainer(id).catch(() => null))?.State.Running,
      freeze: async () => {
        await this.client.pauseContainer(id);
        return () => this.client.unpauseContainer(id);
      },
      remove: async () => {
        if (agent) agent.destroy();
        try {
          await this.client.removeContainer(id, { force: true });
        } catch (err) {
          if (!(err instanceof ContainerNotFoundError)) throw err;
        }
        this.reserved.delete(port);
      },
    };
  }
}
