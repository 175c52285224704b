import { z } from "zod";
import { VmdError, errorMessage } from "../../errors.js";
import { ensureModuleImage } from "../../module/load.js";
import { ResultSchema, type Env, type Meta } from "../../protocol/hymx.js";
import type { Tag } from "../../protocol/tags.js";
import {
  DockerBackend,
  DEFAULT_LIMITS,
  type Instance,
  type Limits,
} from "../../runtime/backends/docker.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import { prepareWorkspace, workspaceEnv, workspacePath } from "../../runtime/workspace.js";
import { VmGoneError, type Vm, type VmFactory, type VmResult } from "../contract.js";
import { callRuntime, waitHealthy } from "./runtime-client.js";
import { resolveRuntimeSpec, type RuntimeSpec } from "./spec.js";
import { archiveWorkspace, unpackWorkspace } from "./workspace-archive.js";

export const VMDOCKER_VM_FORMAT = "hymx.vmdocker.v0.0.1";
export const CHECKPOINT_FORMAT = "vmdocker.workspace.v1";

export interface VmdockerOptions {
  client: DockerClient;
  /** The module file of a module id (the node's catalog). */
  moduleFile: (id: string) => string | undefined;
  workspaceRoot: string;
  limits?: Limits;
  healthTimeoutMs?: number;
}

const CheckpointSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  workspaceArchive: z.string(),
  workspaceCheckpointName: z.string().optional(),
  runtimeState: z.string(),
  backend: z.string(),
});

const moduleTagList = (env: Env): Tag[] => [
  { name: "Module-Format", value: env.Module["Module-Format"] },
  ...(env.Module.Tags ?? []),
];

/** The hymx.vmdocker.v0.0.1 VM: each process in its own container, driven over `/vmm/*`. */
export function vmdockerFactory(opts: VmdockerOptions): VmFactory {
  const backend = new DockerBackend(opts.client);
  return async (env) => {
    const pid = env.Meta.Pid;
    const spec = resolveRuntimeSpec(
      moduleTagList(env),
      env.Process.Tags ?? [],
      opts.limits ?? DEFAULT_LIMITS,
    );
    const file = opts.moduleFile(env.Process.Module);
    if (!file)
      throw new VmdError(
        "err_not_found_mod",
        `module ${env.Process.Module} has no file`,
        "copy its mod-<id>.json into ./mod",
      );
    await ensureModuleImage(opts.client, file);
    const vm = new VmdockerVm(opts, backend, env, spec, workspacePath(opts.workspaceRoot, pid));
    await vm.launch();
    await vm.spawnRuntime();
    return vm;
  };
}

class VmdockerVm implements Vm {
  private instance?: Instance;

  constructor(
    private readonly opts: VmdockerOptions,
    private readonly backend: DockerBackend,
    private readonly env: Env,
    private readonly spec: RuntimeSpec,
    private readonly ws: string,
  ) {}

  /** Creates and starts the container and waits until its runtime answers. */
  async launch(): Promise<void> {
    prepareWorkspace(this.ws);
    const instance = await this.backend.create({
      name: `hymatrix_${this.env.Meta.Pid}`,
      image: this.spec.image.imageName,
      argv: this.spec.argv,
      env: workspaceEnv(this.ws, this.spec.containerEnv),
      workspace: this.ws,
      limits: this.spec.limits,
    });
    this.instance = instance;
    try {
      await waitHealthy(instance.url, this.opts.healthTimeoutMs ?? 120_000, async () => {
        const info = await this.opts.client.findContainer(instance.id);
        return !info?.State.Running;
      });
    } catch (err) {
      await instance.remove();
      this.instance = undefined;
      throw err;
    }
  }

  private get url(): string {
    if (!this.instance)
      throw new VmdError(
        "err_process_not_running",
        "the process has no running container",
        "restore or respawn it",
      );
    return this.instance.url;
  }

  async spawnRuntime(): Promise<void> {
    const data = Buffer.from(this.env.Meta.Data, "utf8").toString("base64");
    const res = await callRuntime(this.url, "spawn", {
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
    const info = this.instance
      ? await this.opts.client.findContainer(this.instance.id).catch(() => null)
      : null;
    if (!info?.State.Running)
      throw new VmGoneError(info ? `container ${info.State.Status}` : "container removed");
    throw cause;
  }

  async apply(from: string, meta: Meta): Promise<VmResult> {
    let res;
    try {
      res = await callRuntime(this.url, "apply", { meta, from, params: meta.Params });
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

  /** `vmdocker.workspace.v1`: the runtime's state plus the workspace as a tar.gz (upstream-compatible fields). */
  async checkpoint(): Promise<string> {
    const res = await callRuntime(this.url, "checkpoint");
    if (res.status !== 200 || res.body.status !== "ok")
      throw new VmdError(
        "err_checkpoint",
        `the runtime could not checkpoint: ${res.text}`,
        "read the container's logs",
      );
    const archive = await archiveWorkspace(this.ws);
    return JSON.stringify({
      format: CHECKPOINT_FORMAT,
      workspaceArchive: JSON.stringify({
        format: "vmdocker.runtime-workspace.v1",
        name: "workspace",
        archive: archive.toString("base64"),
      }),
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

  /** A fresh container on the checkpoint's workspace, given the runtime state through `/vmm/restore`. */
  async restore(data: string): Promise<void> {
    const parsed = CheckpointSchema.safeParse(JSON.parse(data));
    if (!parsed.success)
      throw new VmdError(
        "err_checkpoint_format",
        `not a ${CHECKPOINT_FORMAT} checkpoint`,
        "restore a checkpoint made by vmdocker",
      );
    if (parsed.data.backend !== this.spec.backend) {
      throw new VmdError(
        "err_checkpoint_backend",
        `the checkpoint is for ${parsed.data.backend}, this process runs on ${this.spec.backend}`,
        "restore on the same backend",
      );
    }
    const archive = JSON.parse(parsed.data.workspaceArchive) as { archive: string };
    await this.instance?.remove();
    this.instance = undefined;
    await unpackWorkspace(this.ws, Buffer.from(archive.archive, "base64"));
    await this.launch();
    const res = await callRuntime(this.url, "restore", {
      env: this.env,
      tags: this.env.Process.Tags ?? [],
      state: parsed.data.runtimeState,
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
