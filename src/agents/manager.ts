import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { VmdError } from "../errors.js";
import type { Progress } from "../progress.js";
import type { ContainerInfo, DockerClient } from "../runtime/docker/client.js";
import type { AgentView, HubClient } from "./hub-client.js";
import { AGENT_NAME } from "./hub/api.js";
import type { TaskRecord } from "./hub/store.js";
import type { Profile, ProfileCatalog } from "./profiles.js";
import { ensureProfileImage } from "./provision.js";

export const AGENT_NETWORK = "openclaw-agents";
export const containerName = (name: string) => `openclaw-agent-${name}`;
export const volumeName = (name: string) => `openclaw-agent-${name}`;
/** The label that names the hub an agent container was created for (HubClient.hubId). */
export const HUB_LABEL = "org.vmdocker.hub";

/**
 * Whether an agent container belongs to the hub `hubId`: it carries that hub's label, or its agent
 * name is one the hub knows (a container made before the label). Other hubs' agents on the same
 * engine are not.
 */
export function isHubAgent(
  labels: Record<string, string>,
  hubId: string,
  known: Set<string>,
): boolean {
  return labels[HUB_LABEL] === hubId || known.has(labels["org.vmdocker.agent"] ?? "");
}
const SNAPSHOT_REPO = (name: string) => `openclaw-agent-snapshot-${name}`;

export interface AgentManagerOptions {
  docker: DockerClient;
  hub: HubClient;
  profiles: ProfileCatalog;
  progress: Progress;
  /** Where failed profile builds leave their output. */
  logDir: string;
  connectTimeoutMs?: number;
}

export interface AgentRow {
  name: string;
  profile: string;
  container: string;
  connected: boolean;
  health: AgentView["health"];
}

/** Exit code of a finished task, as a shell would give it. */
export function taskExitCode(t: TaskRecord): number {
  if (t.status === "succeeded") return 0;
  if (t.status === "timeout") return 124;
  if (t.status === "cancelled") return 130;
  // No exit code: the command never ran or was cut off by the agent (interrupted), not its own failure.
  return t.exitCode ?? 125;
}

/** docker-agent's verbs: containers through the engine, identity and tasks through the hub. */
export class AgentManager {
  constructor(private readonly o: AgentManagerOptions) {}

  private checkName(name: string): void {
    if (!AGENT_NAME.test(name))
      throw new VmdError(
        "err_bad_name",
        `${name} is not an agent name`,
        "use lowercase letters, digits, _ . - (at most 63)",
      );
  }

  private async container(name: string): Promise<ContainerInfo> {
    this.checkName(name);
    const c = await this.o.docker.findContainer(containerName(name));
    if (!c)
      throw new VmdError(
        "err_unknown_agent",
        `no agent ${name} (no container ${containerName(name)})`,
        "docker-agent list shows the agents",
      );
    return c;
  }

  private socketPath(): string | undefined {
    const a = this.o.docker.address;
    return a.kind === "unix" ? a.socketPath : undefined;
  }

  /** Whether the hub has a record of the agent (false only for "unknown agent"; other errors throw). */
  private knownToHub(name: string): Promise<boolean> {
    return this.o.hub.agent(name).then(
      () => true,
      (err: unknown) => {
        if (err instanceof VmdError && err.code === "err_unknown_agent") return false;
        throw err;
      },
    );
  }

  private async createContainer(
    name: string,
    image: string,
    profile: Profile,
    token: string,
    wsPort: number,
  ): Promise<string> {
    const socket = profile.docker_socket ? this.socketPath() : undefined;
    if (profile.docker_socket && !socket)
      throw new VmdError(
        "err_bad_profile",
        `profile ${profile.name} mounts the engine's socket, but the engine is not on a unix socket`,
        "use a local engine",
      );
    return this.o.docker.createContainer({
      name: containerName(name),
      Image: image,
      Env: [
        `AGENT_ID=${name}`,
        `AGENT_TOKEN=${token}`,
        `HUB_URL=ws://host.docker.internal:${wsPort}`,
        ...Object.entries(profile.environment).map(([k, v]) => `${k}=${v}`),
      ],
      Labels: {
        "org.vmdocker.role": "agent",
        "org.vmdocker.agent": name,
        "org.vmdocker.profile": profile.name,
        [HUB_LABEL]: this.o.hub.hubId,
      },
      HostConfig: {
        NetworkMode: AGENT_NETWORK,
        ExtraHosts: ["host.docker.internal:host-gateway"],
        Mounts: [
          { Type: "volume", Source: volumeName(name), Target: "/workspace" },
          ...(socket
            ? [{ Type: "bind" as const, Source: socket, Target: "/var/run/docker.sock" }]
            : []),
        ],
        ReadonlyRootfs: true,
        Tmpfs: { "/tmp": "rw,nosuid,nodev,size=512m" },
        CapDrop: ["ALL"],
        SecurityOpt: ["no-new-privileges:true"],
        Memory: profile.resources.memory,
        NanoCpus: Math.round(profile.resources.cpus * 1e9),
        PidsLimit: profile.resources.pids,
        RestartPolicy: { Name: "unless-stopped" },
        // The socket is root:root here: the agent's user needs its group to use it.
        ...(socket ? { GroupAdd: ["0"] } : {}),
      },
    });
  }

  /** Waits until the hub sees the agent connected; explains what went wrong otherwise. */
  async waitConnected(name: string, timeoutMs = this.o.connectTimeoutMs ?? 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if ((await this.o.hub.agent(name)).connected) return;
      const c = await this.o.docker.findContainer(containerName(name));
      if (!c?.State.Running || Date.now() > deadline) {
        const logs = c ? (await this.o.docker.logs(c.Id, { tail: 5 })).trim() : "";
        throw new VmdError(
          "err_agent_not_connected",
          `agent ${name} ${c?.State.Running ? `did not connect in ${timeoutMs / 1000} s` : "is not running"}${logs ? `; its last output: ${logs.split("\n").join(" | ")}` : ""}`,
          "see docker-agent logs and the README's troubleshooting",
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async create(
    name: string,
    opts: { profile: string; caBundle?: string },
  ): Promise<{ seconds: number; image: string; imageCached: boolean }> {
    const started = Date.now();
    this.checkName(name);
    const profile = this.o.profiles.get(opts.profile);
    const { wsPort } = await this.o.hub.health();
    if (await this.o.docker.findContainer(containerName(name)))
      throw new VmdError(
        "err_agent_exists",
        `agent ${name} exists`,
        `pick another name, or docker-agent destroy ${name}`,
      );
    const task = this.o.progress.task(`profile ${profile.name}`);
    const image = await ensureProfileImage(
      this.o.docker,
      profile,
      {
        ...(opts.caBundle ? { caBundle: opts.caBundle } : {}),
        logFile: join(this.o.logDir, `provision-${name}.log`),
      },
      task,
    );
    task.done(
      `${image.reference} ${image.cached ? "(cached)" : `built in ${image.seconds.toFixed(1)} s`}`,
    );
    const { token } = await this.o.hub.register(name, profile.name);
    const newVolume = !(await this.o.docker.volumeExists(volumeName(name)));
    try {
      await this.o.docker.ensureNetwork(AGENT_NETWORK, { "org.vmdocker.role": "agents" });
      await this.o.docker.ensureVolume(volumeName(name), { "org.vmdocker.agent": name });
      const id = await this.createContainer(name, image.reference, profile, token, wsPort);
      await this.o.docker.startContainer(id);
      await this.waitConnected(name);
    } catch (err) {
      await this.o.docker.removeContainer(containerName(name), { force: true }).catch(() => {});
      await this.o.hub.remove(name).catch(() => {});
      if (newVolume) await this.o.docker.removeVolume(volumeName(name)).catch(() => {});
      throw err;
    }
    return {
      seconds: (Date.now() - started) / 1000,
      image: image.reference,
      imageCached: image.cached,
    };
  }

  async list(): Promise<AgentRow[]> {
    const [agents, containers] = await Promise.all([
      this.o.hub.agents(),
      this.o.docker.listContainers({ label: ["org.vmdocker.role=agent"] }),
    ]);
    const known = new Set(agents.map((a) => a.name));
    const byName = new Map(
      containers
        .filter((c) => isHubAgent(c.Labels, this.o.hub.hubId, known))
        .map((c) => [c.Labels["org.vmdocker.agent"] ?? "", c]),
    );
    const names = [...new Set([...agents.map((a) => a.name), ...byName.keys()])]
      .filter(Boolean)
      .sort();
    return names.map((name) => {
      const a = agents.find((x) => x.name === name);
      const c = byName.get(name);
      return {
        name,
        profile: a?.profile ?? c?.Labels["org.vmdocker.profile"] ?? "?",
        container: c ? c.State : "missing",
        connected: a?.connected ?? false,
        health: a?.health ?? null,
      };
    });
  }

  async status(name: string) {
    const c = await this.container(name);
    const agent = await this.o.hub.agent(name).catch(() => null);
    const tasks = agent ? await this.o.hub.tasks(name, 5) : [];
    return {
      name,
      profile: c.Config.Labels?.["org.vmdocker.profile"] ?? agent?.profile ?? "?",
      container: {
        name: containerName(name),
        id: c.Id.slice(0, 12),
        image: c.Config.Image,
        state: c.State.Status,
        startedAt: c.State.StartedAt,
        memoryLimit: c.HostConfig.Memory,
        cpus: (c.HostConfig.NanoCpus ?? 0) / 1e9,
        pidsLimit: c.HostConfig.PidsLimit,
        readOnlyRoot: c.HostConfig.ReadonlyRootfs,
        volume: volumeName(name),
      },
      hub: agent
        ? { connected: agent.connected, lastSeen: agent.lastSeen, health: agent.health }
        : null,
      recentTasks: tasks.map((t) => ({
        id: t.id,
        type: t.spec.type,
        command: t.spec.command,
        status: t.status,
        exitCode: t.exitCode,
      })),
    };
  }

  async start(name: string): Promise<void> {
    const c = await this.container(name);
    if (!c.State.Running) await this.o.docker.startContainer(c.Id);
    await this.waitConnected(name);
  }

  async stop(name: string): Promise<void> {
    const c = await this.container(name);
    await this.o.docker.stopContainer(c.Id, 10);
  }

  /** Removes the container and the hub's record; the volume (the agent's /workspace) only with `volume`. */
  async destroy(name: string, opts: { volume: boolean }): Promise<{ volumeRemoved: boolean }> {
    this.checkName(name);
    const c = await this.o.docker.findContainer(containerName(name));
    const known = await this.knownToHub(name);
    if (!c && !known)
      throw new VmdError(
        "err_unknown_agent",
        `no agent ${name}`,
        "docker-agent list shows the agents",
      );
    if (c) await this.o.docker.removeContainer(c.Id, { force: true });
    if (known) await this.o.hub.remove(name);
    if (opts.volume && (await this.o.docker.volumeExists(volumeName(name)))) {
      await this.o.docker.removeVolume(volumeName(name));
      return { volumeRemoved: true };
    }
    return { volumeRemoved: false };
  }

  /** Runs a task; with `onOutput` its output streams as it comes. Offline agents: the task waits in the queue. */
  async task(
    name: string,
    spec: Record<string, unknown>,
    opts: { wait: boolean; onOutput?: (stream: "stdout" | "stderr", data: string) => void },
  ): Promise<TaskRecord> {
    this.checkName(name);
    const queued = await this.o.hub.submit(name, spec);
    if (!opts.wait) return queued;
    if (opts.onOutput) return this.o.hub.stream(queued.id, opts.onOutput);
    for (;;) {
      const t = await this.o.hub.wait(queued.id, 60_000);
      if (!["queued", "dispatched", "running"].includes(t.status)) return t;
    }
  }

  /** `exec`: the agent must be connected (a command typed now should run now). */
  async exec(
    name: string,
    command: string,
    opts: { timeoutMs?: number; onOutput: (stream: "stdout" | "stderr", data: string) => void },
  ): Promise<TaskRecord> {
    await this.container(name);
    if (!(await this.o.hub.agent(name)).connected)
      throw new VmdError(
        "err_agent_not_connected",
        `agent ${name} is not connected`,
        `docker-agent start ${name} (or docker-agent task ${name} '{...}' to queue it)`,
      );
    return this.task(
      name,
      { type: "exec", command, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) },
      { wait: true, onOutput: opts.onOutput },
    );
  }

  /** An interactive shell in the agent's container (the docker CLI's exec -it). */
  async shell(name: string, command = "/bin/bash"): Promise<number> {
    const c = await this.container(name);
    if (!c.State.Running)
      throw new VmdError(
        "err_agent_not_running",
        `agent ${name} is stopped`,
        `docker-agent start ${name}`,
      );
    const a = this.o.docker.address;
    const host = a.kind === "unix" ? `unix://${a.socketPath}` : a.display;
    const tty = process.stdin.isTTY ? ["-it"] : ["-i"];
    const child = spawn("docker", ["-H", host, "exec", ...tty, c.Id, command], {
      stdio: "inherit",
    });
    return new Promise((resolve, reject) => {
      child.on("error", (err) =>
        reject(
          new VmdError(
            "err_no_docker_cli",
            `cannot run docker: ${err.message}`,
            "install the docker CLI",
          ),
        ),
      );
      child.on("close", (code) => resolve(code ?? 1));
    });
  }

  async logs(name: string, opts: { tail?: number; follow: boolean }, out: NodeJS.WritableStream) {
    const c = await this.container(name);
    if (opts.follow) {
      const stream = await this.o.docker.followLogs(
        c.Id,
        opts.tail === undefined ? {} : { tail: opts.tail },
      );
      await pipeline(stream, out, { end: false });
      return;
    }
    out.write(await this.o.docker.logs(c.Id, opts.tail === undefined ? {} : { tail: opts.tail }));
  }

  /**
   * A snapshot image `openclaw-agent-snapshot-<name>:<tag>`: the container committed, plus its
   * /workspace volume copied in (a commit leaves volumes out), so a restore brings both back.
   */
  async snapshot(name: string, tag?: string) {
    const c = await this.container(name);
    const t0 = Date.now();
    const repo = SNAPSHOT_REPO(name);
    const label =
      tag ?? new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
    const committed = await this.o.docker.commitContainer(c.Id, repo, `${label}-base`);
    const commitMs = Date.now() - t0;
    const dir = mkdtempSync(join(tmpdir(), "vmd-snapshot-"));
    try {
      const tar = spawn("tar", ["-x", "-C", dir], { stdio: ["pipe", "ignore", "pipe"] });
      const closed = new Promise<void>((res, rej) =>
        tar.on("close", (code) => (code === 0 ? res() : rej(new Error(`tar exited ${code}`)))),
      );
      await pipeline(await this.o.docker.getArchive(c.Id, "/workspace"), tar.stdin!);
      await closed;
      writeFileSync(
        join(dir, "Dockerfile"),
        `FROM ${committed}\nCOPY --chown=vmd:vmd workspace/ /workspace/\n`,
      );
      const reference = `${repo}:${label}`;
      await this.o.docker.buildImage(
        { context: dir, src: ["Dockerfile", "workspace"] },
        {
          tag: reference,
          labels: {
            "org.vmdocker.snapshot.of": name,
            "org.vmdocker.profile": c.Config.Labels?.["org.vmdocker.profile"] ?? "",
          },
        },
      );
      await this.o.docker.removeImage(`${repo}:${label}-base`).catch(() => {});
      return { reference, commitMs, totalMs: Date.now() - t0 };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /**
   * The agent's snapshot images (`openclaw-agent-snapshot-<name>:<tag>`), sorted. Throws
   * err_unknown_agent when the name has no snapshot and no container.
   */
  async snapshots(name: string): Promise<string[]> {
    this.checkName(name);
    const tags = await this.o.docker.listImageTags();
    const list = [...tags.keys()].filter((t) => t.startsWith(`${SNAPSHOT_REPO(name)}:`)).sort();
    // An agent's snapshots outlive it (destroy keeps them); a name with neither is unknown, as in `logs`.
    if (list.length === 0) await this.container(name);
    return list;
  }

  /** Replaces the agent's container and /workspace with a snapshot's (made by `snapshot`). */
  async restore(name: string, snapshot: string) {
    this.checkName(name);
    const t0 = Date.now();
    const ref = snapshot.includes(":") ? snapshot : `${SNAPSHOT_REPO(name)}:${snapshot}`;
    const image = await this.o.docker.inspectImage(ref);
    if (!image)
      throw new VmdError(
        "err_unknown_snapshot",
        `no snapshot ${ref}`,
        `docker-agent snapshots ${name} lists them`,
      );
    const profile = this.o.profiles.get(
      image.Config?.Labels?.["org.vmdocker.profile"] || "builder",
    );
    const { wsPort } = await this.o.hub.health();
    const old = await this.o.docker.findContainer(containerName(name));
    if (old) await this.o.docker.removeContainer(old.Id, { force: true });
    if (await this.o.docker.volumeExists(volumeName(name)))
      await this.o.docker.removeVolume(volumeName(name));
    const { token } = (await this.knownToHub(name))
      ? await this.o.hub.rotateToken(name)
      : await this.o.hub.register(name, profile.name);
    await this.o.docker.ensureNetwork(AGENT_NETWORK);
    // An empty named volume is filled from the image's /workspace on first mount: the snapshot's files.
    await this.o.docker.ensureVolume(volumeName(name), { "org.vmdocker.agent": name });
    const id = await this.createContainer(name, ref, profile, token, wsPort);
    await this.o.docker.startContainer(id);
    await this.waitConnected(name);
    return { reference: ref, seconds: (Date.now() - t0) / 1000 };
  }
}
