import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { VmdError, errorMessage } from "../../errors.js";
import { ensureModuleImage } from "../../module/load.js";
import { ResultSchema, type Env, type Meta } from "../../protocol/hymx.js";
import type { Tag } from "../../protocol/tags.js";
import { DockerBackend, DEFAULT_LIMITS, type Limits } from "../../runtime/backends/docker.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import { prepareWorkspace, workspaceEnv, workspacePath } from "../../runtime/workspace.js";
import { VmGoneError, type Vm, type VmFactory, type VmResult } from "../contract.js";
import { waitHealthy, type Instance, type InstanceSpec } from "../../runtime/backends/instance.js";
import { SandboxBackend } from "../../runtime/backends/sandbox.js";
import { run } from "../../sys/exec.js";
import { resolveRuntimeSpec, type RuntimeSpec } from "./spec.js";
import { archiveWorkspace, unpackWorkspace } from "./workspace-archive.js";

export const VMDOCKER_VM_FORMAT = "hymx.vmdocker.v0.0.1";
export const CHECKPOINT_FORMAT = "vmdocker.workspace.v1";
export const CRIU_CHECKPOINT_FORMAT = "vmdocker.criu.v1";

export type CheckpointKind = "workspace" | "criu";

export interface VmdockerOptions {
  client: DockerClient;
  /** The module file of a module id (the node's catalog). */
  moduleFile: (id: string) => string | undefined;
  workspaceRoot: string;
  limits?: Limits;
  healthTimeoutMs?: number;
  /** The node's checkpoint kind; a spawn's `Checkpoint-Kind` tag overrides it. */
  checkpointKind?: CheckpointKind;
  /**
   * Where the host lacks CAP_SYS_RESOURCE, CRIU cannot read a non-root task's limits: criu-kind
   * containers then run as uid 0 (with every capability still dropped).
   */
  criuAsRoot?: boolean;
}

const WorkspaceCheckpoint = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  workspaceArchive: z.string(),
  runtimeState: z.string(),
  backend: z.string(),
});

const CriuCheckpoint = z.object({
  format: z.literal(CRIU_CHECKPOINT_FORMAT),
  checkpointName: z.string(),
  checkpointArchive: z.string(),
  workspaceArchive: z.string(),
  backend: z.string(),
});

const moduleTagList = (env: Env): Tag[] => [
  { name: "Module-Format", value: env.Module["Module-Format"] },
  ...(env.Module.Tags ?? []),
];

const workspaceArchiveJson = (archive: Buffer) =>
  JSON.stringify({
    format: "vmdocker.runtime-workspace.v1",
    name: "workspace",
    archive: archive.toString("base64"),
  });

/** The hymx.vmdocker.v0.0.1 VM: each process in its own container, driven over `/vmm/*`. */
export function vmdockerFactory(opts: VmdockerOptions): VmFactory {
  const docker = new DockerBackend(opts.client);
  const sandbox = new SandboxBackend((args) => run("docker", args));
  return async (env) => {
    const pid = env.Meta.Pid;
    const spawnTags = env.Process.Tags ?? [];
    const spec = resolveRuntimeSpec(moduleTagList(env), spawnTags, opts.limits ?? DEFAULT_LIMITS);
    const requested = [...spawnTags].reverse().find((t) => t.name === "Checkpoint-Kind")?.value;
    if (requested !== undefined && requested !== "workspace" && requested !== "criu") {
      throw new VmdError(
        "err_bad_spawn_tag",
        `Checkpoint-Kind=${requested} is not a checkpoint kind`,
        "use workspace or criu",
      );
    }
    const kind: CheckpointKind = requested ?? opts.checkpointKind ?? "workspace";
    if (kind === "criu" && spec.backend !== "docker") {
      throw new VmdError(
        "err_bad_spawn_tag",
        "Checkpoint-Kind=criu needs the docker backend",
        "use Checkpoint-Kind=workspace with sandbox",
      );
    }
    const file = opts.moduleFile(env.Process.Module);
    if (!file)
      throw new VmdError(
        "err_not_found_mod",
        `module ${env.Process.Module} has no file`,
        "copy its mod-<id>.json into ./mod",
      );
    await ensureModuleImage(opts.client, file);
    const launcher: Launcher =
      spec.backend === "sandbox"
        ? (instance) =>
            sandbox.create(instance, {
              agent: spec.image.sandboxAgent,
              name: spec.image.sandboxName,
              command: spec.image.sandboxCommand,
              imageId: spec.image.imageId,
              pid,
            })
        : (instance, restoreFrom) => docker.create(instance, restoreFrom);
    const vm = new VmdockerVm(
      opts,
      launcher,
      env,
      spec,
      kind,
      workspacePath(opts.workspaceRoot, pid),
    );
    await vm.launch();
    await vm.spawnRuntime();
    return vm;
  };
}

type RestoreFrom = { checkpoint: string; place: (containerId: string) => Promise<void> };
type Launcher = (spec: InstanceSpec, restoreFrom?: RestoreFrom) => Promise<Instance>;

class VmdockerVm implements Vm {
  private instance?: Instance;

  constructor(
    private readonly opts: VmdockerOptions,
    private readonly launcher: Launcher,
    private readonly env: Env,
    private readonly spec: RuntimeSpec,
    private readonly kind: CheckpointKind,
    private readonly ws: string,
  ) {}

  /** Creates and starts the container (optionally from an engine checkpoint) and waits until its runtime answers. */
  async launch(restoreFrom?: RestoreFrom): Promise<void> {
    prepareWorkspace(this.ws);
    const instance = await this.launcher(
      {
        name: `hymatrix_${this.env.Meta.Pid}`,
        image: this.spec.image.imageName,
        argv: this.spec.argv,
        env: workspaceEnv(this.ws, this.spec.containerEnv),
        workspace: this.ws,
        limits: this.spec.limits,
        ...(this.kind === "criu" && this.opts.criuAsRoot ? { user: "0" } : {}),
      },
      restoreFrom,
    );
    this.instance = instance;
    try {
      await waitHealthy(instance, this.opts.healthTimeoutMs ?? 120_000);
    } catch (err) {
      await instance.remove();
      this.instance = undefined;
      throw err;
    }
  }

  private get running(): Instance {
    if (!this.instance)
      throw new VmdError(
        "err_process_not_running",
        "the process has no running container",
        "restore or respawn it",
      );
    return this.instance;
  }

  async spawnRuntime(): Promise<void> {
    const data = Buffer.from(this.env.Meta.Data, "utf8").toString("base64");
    const res = await this.running.call("spawn", {
      pid: this.env.Meta.Pid,
      owner: this.env.Meta["Acc-Id"],
      cu_addr: this.env.Process.Scheduler,
      data,
      tags: this.env.Process.Tags ?? [],
      env: this.env,
    });
    if (res.status !== 200)
      throw new VmdError(
        "err_runtime_spawn",
        `the runtime refused the spawn: ${res.text}`,
        "read the container's logs",
      );
  }

  /** Throws VmGoneError when the container is not running any more. */
  private async assertAlive(cause: unknown): Promise<never> {
    const alive = this.instance ? await this.instance.running().catch(() => false) : false;
    if (!alive)
      throw new VmGoneError(this.instance ? `${this.instance.name} is not running` : "no instance");
    throw cause;
  }

  async apply(from: string, meta: Meta): Promise<VmResult> {
    let res;
    try {
      res = await this.running.call("apply", { meta, from, params: meta.Params });
    } catch (err) {
      return this.assertAlive(err);
    }
    if (res.status !== 200)
      return { Error: `request failed with status ${res.status}: ${res.text}` };
    try {
      const parsed = ResultSchema.safeParse(JSON.parse(String(res.body.result ?? "")));
      if (!parsed.success)
        return {
          Error: `the runtime's result is not a Result: ${parsed.error.issues[0]?.message}`,
        };
      const { Error: _none, ...result } = parsed.data;
      return result;
    } catch (err) {
      return { Error: `the runtime's result is not JSON: ${errorMessage(err)}` };
    }
  }

  checkpoint(): Promise<string> {
    return this.kind === "criu" ? this.criuCheckpoint() : this.workspaceCheckpoint();
  }

  /** `vmdocker.workspace.v1`: the runtime's state plus the workspace as a tar.gz (upstream-compatible fields). */
  private async workspaceCheckpoint(): Promise<string> {
    const res = await this.running.call("checkpoint");
    if (res.status !== 200 || res.body.status !== "ok")
      throw new VmdError(
        "err_checkpoint",
        `the runtime could not checkpoint: ${res.text}`,
        "read the container's logs",
      );
    const archive = await archiveWorkspace(this.ws);
    return JSON.stringify({
      format: CHECKPOINT_FORMAT,
      workspaceArchive: workspaceArchiveJson(archive),
      workspaceCheckpointName: "workspace",
      runtimeState: String(res.body.state ?? ""),
      backend: this.spec.backend,
      runtimeSpec: {
        Backend: this.spec.backend,
        StartCommand: this.spec.argv.join(" "),
        Image: {
          Name: this.spec.image.imageName,
          SHA: this.spec.image.imageId,
          Source: "module-data",
          ArchiveFormat: "docker-save+gzip",
        },
      },
      runtimeEnv: Object.entries(workspaceEnv(this.ws, this.spec.containerEnv)).map(
        ([k, v]) => `${k}=${v}`,
      ),
    });
  }

  private async checkpointDir(containerId: string, name: string): Promise<string> {
    const info = await this.opts.client.info();
    const root = String(info.DockerRootDir ?? "/var/lib/docker");
    return join(root, "containers", containerId, "checkpoints", name);
  }

  /**
   * `vmdocker.criu.v1`: the container's whole memory through the engine's CRIU checkpoint (the
   * container keeps running), plus the workspace. Restore needs no replay and no `/vmm/restore`.
   */
  private async criuCheckpoint(): Promise<string> {
    const instance = this.instance;
    if (!instance)
      throw new VmdError(
        "err_process_not_running",
        "the process has no running container",
        "restore or respawn it",
      );
    const name = `vmd-${Date.now()}`;
    await this.opts.client.createCheckpoint(instance.id, name, { exit: false });
    try {
      const memory = await archiveWorkspace(await this.checkpointDir(instance.id, name));
      const workspace = await archiveWorkspace(this.ws);
      return JSON.stringify({
        format: CRIU_CHECKPOINT_FORMAT,
        checkpointName: name,
        checkpointArchive: memory.toString("base64"),
        workspaceArchive: workspaceArchiveJson(workspace),
        backend: this.spec.backend,
      });
    } finally {
      await this.opts.client.deleteCheckpoint(instance.id, name).catch(() => {});
    }
  }

  /** A fresh container on the checkpoint's workspace: from the engine checkpoint (criu) or given the runtime state (workspace). */
  async restore(data: string): Promise<void> {
    const json = JSON.parse(data) as { format?: string; backend?: string };
    if (json.backend !== undefined && json.backend !== this.spec.backend) {
      throw new VmdError(
        "err_checkpoint_backend",
        `the checkpoint is for ${json.backend}, this process runs on ${this.spec.backend}`,
        "restore on the same backend",
      );
    }
    const criu = CriuCheckpoint.safeParse(json);
    const workspace = WorkspaceCheckpoint.safeParse(json);
    if (!criu.success && !workspace.success) {
      throw new VmdError(
        "err_checkpoint_format",
        `not a ${CHECKPOINT_FORMAT} or ${CRIU_CHECKPOINT_FORMAT} checkpoint`,
        "restore a checkpoint made by vmdocker",
      );
    }
    const ckp = criu.success ? criu.data : workspace.data!;
    const archive = JSON.parse(ckp.workspaceArchive) as { archive: string };
    await this.instance?.remove();
    this.instance = undefined;
    await unpackWorkspace(this.ws, Buffer.from(archive.archive, "base64"));
    if (criu.success) {
      const { checkpointName, checkpointArchive } = criu.data;
      await this.launch({
        checkpoint: checkpointName,
        place: async (containerId) => {
          const dir = await this.checkpointDir(containerId, checkpointName);
          mkdirSync(dir, { recursive: true });
          await unpackWorkspace(dir, Buffer.from(checkpointArchive, "base64"));
        },
      });
      return;
    }
    await this.launch();
    const res = await this.running.call("restore", {
      env: this.env,
      tags: this.env.Process.Tags ?? [],
      state: workspace.data!.runtimeState,
    });
    if (res.status !== 200)
      throw new VmdError(
        "err_restore",
        `the runtime refused the restore: ${res.text}`,
        "read the container's logs",
      );
  }

  async close(): Promise<void> {
    await this.instance?.remove();
    this.instance = undefined;
  }
}
