import { silentLogger, type Logger } from "../../log.js";
import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { VmdError, errorMessage } from "../../errors.js";
import { aoWasmRuntime, isAoWasmModule } from "../../module/ao-wasm.js";
import { ensureModuleImage } from "../../module/load.js";
import { ProtocolError } from "../../protocol/errors.js";
import { processOwner, ResultSchema, type Env, type Meta } from "../../protocol/hymx.js";
import type { Tag } from "../../protocol/tags.js";
import { DockerBackend, DEFAULT_LIMITS, type Limits } from "../../runtime/backends/docker.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import { prepareWorkspace, workspaceEnv, workspacePath } from "../../runtime/workspace.js";
import { VmGoneError, type Vm, type VmFactory, type VmResult } from "../contract.js";
import {
  removeAndRethrow,
  removeLogged,
  waitHealthy,
  type Instance,
  type InstanceSpec,
} from "../../runtime/backends/instance.js";
import { SandboxBackend } from "../../runtime/backends/sandbox.js";
import { run } from "../../sys/exec.js";
import {
  CHECKPOINT_FORMAT,
  CRIU_CHECKPOINT_FORMAT,
  parseCheckpoint,
  workspaceArchiveJson,
  type CheckpointKind,
  type ResumePoint,
} from "./checkpoint-format.js";
import { resolveRuntimeSpec, type RuntimeSpec } from "./spec.js";
import { MemoryImages, type MemoryImageRef } from "./memory-images.js";
import { WarmPool, type PoolTemplate } from "./warm-pool.js";
import {
  archiveWorkspace,
  listArchive,
  overwriteWorkspace,
  unpackWorkspace,
} from "./workspace-archive.js";

export const VMDOCKER_VM_FORMAT = "hymx.vmdocker.v0.0.1";
export { CHECKPOINT_FORMAT, CRIU_CHECKPOINT_FORMAT, type CheckpointKind };

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
  /** Started instances kept ready per runtime (docker backend, workspace checkpoints); 0 turns the pool off. */
  warmPool?: number;
  log?: Logger;
}

export interface VmdockerMount {
  factory: VmFactory;
  pool: WarmPool;
  /** Removes the pool's instances. */
  close(): Promise<void>;
}

const moduleTagList = (env: Env): Tag[] => [
  { name: "Module-Format", value: env.Module["Module-Format"] },
  ...(env.Module.Tags ?? []),
];

function checkpointKind(spawnTags: Tag[], spec: RuntimeSpec, fallback: CheckpointKind) {
  const requested = [...spawnTags].reverse().find((t) => t.name === "Checkpoint-Kind")?.value;
  if (requested !== undefined && requested !== "workspace" && requested !== "criu") {
    throw new VmdError(
      "err_bad_spawn_tag",
      `Checkpoint-Kind=${requested} is not a checkpoint kind`,
      "use workspace or criu",
    );
  }
  const kind: CheckpointKind = requested ?? fallback;
  if (kind === "criu" && spec.backend !== "docker") {
    throw new VmdError(
      "err_bad_spawn_tag",
      "Checkpoint-Kind=criu needs the docker backend",
      "use Checkpoint-Kind=workspace with sandbox",
    );
  }
  return kind;
}

/** The hymx.vmdocker.v0.0.1 VM: each process in its own container, driven over `/vmm/*`. */
export function vmdocker(opts: VmdockerOptions): VmdockerMount {
  const logger = opts.log ?? silentLogger;
  // The runtime layer's cleanup reports are lines: they are warnings here.
  const log = (line: string) => logger.warn(line);
  const docker = new DockerBackend(opts.client, log);
  const sandbox = new SandboxBackend((args) => run("docker", args));
  const healthTimeoutMs = opts.healthTimeoutMs ?? 120_000;
  const memoryImages = new MemoryImages(join(opts.workspaceRoot, "checkpoint_memory"));
  const pool = new WarmPool({
    client: opts.client,
    size: opts.warmPool ?? 1,
    workspaces: join(opts.workspaceRoot, "sandbox_workspace"),
    launch: (spec) => docker.create(spec),
    healthTimeoutMs,
    log: logger,
  });
  const factory: VmFactory = async (env, { restoring = false } = {}) => {
    const pid = env.Meta.Pid;
    const spawnTags = env.Process.Tags ?? [];
    const file = opts.moduleFile(env.Process.Module);
    if (!file)
      throw new VmdError(
        "err_not_found_mod",
        `module ${env.Process.Module} has no file`,
        "copy its mod-<id>.json into ./mod",
      );
    const moduleTags = moduleTagList(env);
    // An AO WASM module's data is the WASM itself: it runs in the AO runtime's image.
    const wasm = isAoWasmModule(moduleTags) ? await aoWasmRuntime(opts.client, file) : undefined;
    const spec = resolveRuntimeSpec(
      moduleTags,
      spawnTags,
      opts.limits ?? DEFAULT_LIMITS,
      process.platform,
      wasm?.image,
    );
    if (wasm) spec.moduleData = wasm.wasm.toString("base64");
    const kind = checkpointKind(spawnTags, spec, opts.checkpointKind ?? "workspace");
    if (!wasm) await ensureModuleImage(opts.client, file);
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
    const template: PoolTemplate = {
      image: spec.image.imageName,
      argv: spec.argv,
      containerEnv: spec.containerEnv,
      limits: spec.limits,
      ...(kind === "criu" && opts.criuAsRoot ? { user: "0" } : {}),
      keepAlive: kind !== "criu",
    };
    // CRIU restores a container's mounts where they were dumped: only workspace-kind processes
    // may start in a pool instance (whose workspace sits at its pool path inside).
    const poolable = spec.backend === "docker" && kind === "workspace";
    const vm = new VmdockerVm(
      opts.client,
      launcher,
      env,
      spec,
      kind,
      template,
      workspacePath(opts.workspaceRoot, pid),
      healthTimeoutMs,
      memoryImages,
      log,
    );
    if (restoring) return vm;
    const fresh = !existsSync(vm.ws);
    try {
      const warm = poolable ? await pool.take(template, vm.name, vm.ws) : undefined;
      if (warm) vm.adopt(warm);
      else await vm.launch();
      await vm.spawnRuntime();
    } catch (err) {
      await vm.abandon(err, fresh);
    }
    if (poolable) pool.fill(template);
    return vm;
  };
  return { factory, pool, close: () => pool.close() };
}

/** A runtime's reason for refusing an apply: `{"error": "..."}` or `{"msg": "..."}`, else the status and body. */
function refusal(status: number, body: Record<string, unknown>, text: string): string {
  const reason = body.error ?? body.msg;
  return typeof reason === "string" ? reason : `request failed with status ${status}: ${text}`;
}

/** A runtime's `result` (a JSON string of upstream's Result) as the VM's result; anything else is its Error. */
function parseResult(text: unknown): VmResult {
  try {
    const parsed = ResultSchema.safeParse(JSON.parse(String(text ?? "")));
    if (!parsed.success)
      return { Error: `the runtime's result is not a Result: ${parsed.error.issues[0]?.message}` };
    const { Error: _none, ...result } = parsed.data;
    return result;
  } catch (err) {
    return { Error: `the runtime's result is not JSON: ${errorMessage(err)}` };
  }
}

type RestoreFrom = { checkpoint: string; place: (containerId: string) => Promise<void> };
type Launcher = (spec: InstanceSpec, restoreFrom?: RestoreFrom) => Promise<Instance>;

/** How a restore puts the checkpoint's workspace in place, and takes it back. */
interface WorkspaceSwap {
  apply(): Promise<void>;
  undo(): Promise<void>;
  /** After a good restore. */
  done(): void;
  /** When the restore stops before apply. */
  discard(): void;
}

class VmdockerVm implements Vm {
  private instance?: Instance;
  readonly name: string;
  private readonly secretEnv: Set<string>;
  /** The memory image of the checkpoint this process last restored from or took. */
  private committedImage?: string;
  /** The engine's data folder (where its checkpoints are), asked once. */
  private engineRoot?: Promise<string>;
  /** The runtime has no `/vmm/apply-batch`. */
  private noBatch = false;
  spawnResult?: VmResult;

  constructor(
    private readonly client: DockerClient,
    private readonly launcher: Launcher,
    private readonly env: Env,
    private readonly spec: RuntimeSpec,
    private readonly kind: CheckpointKind,
    private readonly template: PoolTemplate,
    readonly ws: string,
    private readonly healthTimeoutMs: number,
    private readonly memoryImages: MemoryImages,
    private readonly log: (line: string) => void,
  ) {
    this.name = `hymatrix_${env.Meta.Pid}`;
    const prefix = "Encrypted-Container-Env-";
    this.secretEnv = new Set(
      (env.Process.Tags ?? [])
        .filter((t) => t.name.startsWith(prefix))
        .map((t) => t.name.slice(prefix.length).trim()),
    );
  }

  /** Takes a started, healthy instance from the warm pool. */
  adopt(instance: Instance): void {
    this.instance = instance;
  }

  /** Creates and starts the container (optionally from an engine checkpoint) and waits until its runtime answers. */
  async launch(restoreFrom?: RestoreFrom): Promise<void> {
    prepareWorkspace(this.ws);
    const { containerEnv, ...template } = this.template;
    const instance = await this.launcher(
      {
        ...template,
        name: this.name,
        env: workspaceEnv(this.ws, containerEnv),
        workspace: this.ws,
      },
      restoreFrom,
    );
    this.instance = instance;
    try {
      await waitHealthy(instance, this.healthTimeoutMs);
    } catch (err) {
      this.instance = undefined;
      await removeAndRethrow(instance, err, this.log);
    }
  }

  /**
   * A spawn that failed leaves nothing: its container goes, and its workspace when this spawn made
   * it (it may hold the key the runtime stored). What cannot be removed is logged; `cause` is
   * thrown, always.
   */
  async abandon(cause: unknown, ownsWorkspace: boolean): Promise<never> {
    if (this.instance) await removeLogged(this.instance, "a failed spawn", this.log);
    this.instance = undefined;
    if (ownsWorkspace) {
      try {
        rmSync(this.ws, { recursive: true, force: true });
      } catch (err) {
        this.log(
          `could not remove the workspace ${this.ws} after a failed spawn: ${errorMessage(err)}`,
        );
      }
    }
    throw cause;
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

  /** The module's WASM for the ao runtime, when the module is an AO WASM module. */
  private moduleData(): { module_data?: string } {
    return this.spec.moduleData ? { module_data: this.spec.moduleData } : {};
  }

  async spawnRuntime(): Promise<void> {
    const data = Buffer.from(this.env.Meta.Data, "utf8").toString("base64");
    const res = await this.running.call("spawn", {
      pid: this.env.Meta.Pid,
      owner: processOwner(this.env),
      cu_addr: this.env.Process.Scheduler,
      data,
      tags: this.env.Process.Tags ?? [],
      env: this.env,
      ...this.moduleData(),
    });
    if (res.status !== 200)
      throw new VmdError(
        "err_runtime_spawn",
        `the runtime refused the spawn: ${res.text}`,
        "read the container's logs",
      );
    if (res.body.result !== undefined) this.spawnResult = parseResult(res.body.result);
  }

  /** Throws VmGoneError when the container is not running any more. */
  private async assertAlive(cause: unknown): Promise<never> {
    const alive = this.instance ? await this.instance.running().catch(() => false) : false;
    if (!alive)
      throw new VmGoneError(this.instance ? `${this.instance.name} is not running` : "no instance");
    throw cause;
  }

  apply(from: string, meta: Meta): Promise<VmResult> {
    return this.evaluate("apply", from, meta);
  }

  /**
   * The runtime evaluates without effects if it can (`/vmm/dryrun`); a runtime that cannot (or an
   * upstream runtime, which has no such route) is refused with err_dry_run_unsupported.
   */
  dryRun(from: string, meta: Meta): Promise<VmResult> {
    return this.evaluate("dryrun", from, meta);
  }

  /**
   * The runtime's state for anyone to read (`/vmm/state`), where the runtime declares it public
   * (an AO process's memory); others, and upstream runtimes without the route, are refused with
   * err_state_not_public, since a container's workspace can hold the process's secrets.
   */
  async publicState(): Promise<string> {
    const res = await this.callRuntime("state", {});
    if (res.status !== 200 || typeof res.body.state !== "string")
      throw new ProtocolError("err_state_not_public");
    return res.body.state;
  }

  /** One `/vmm/<route>` call to the running runtime; a failed call throws VmGoneError when the container is gone. */
  private async callRuntime(route: string, body: unknown) {
    try {
      return await this.running.call(route, body);
    } catch (err) {
      return this.assertAlive(err);
    }
  }

  private async evaluate(route: "apply" | "dryrun", from: string, meta: Meta): Promise<VmResult> {
    const res = await this.callRuntime(route, { meta, from, params: meta.Params });
    if (
      route === "dryrun" &&
      (res.status === 404 || String(res.body.error ?? "").startsWith("err_dry_run_unsupported"))
    )
      throw new ProtocolError("err_dry_run_unsupported", String(res.body.error ?? "not found"));
    if (res.status !== 200) return { Error: refusal(res.status, res.body, res.text) };
    return parseResult(res.body.result);
  }

  /**
   * `/vmm/apply-batch` (vmdocker's runtimes): the messages in one request, applied in order.
   * Runtimes without the route (upstream's) answer 404: then null, and never asked again.
   */
  async applyBatch(calls: { from: string; meta: Meta }[]): Promise<VmResult[] | null> {
    if (this.noBatch) return null;
    const res = await this.callRuntime("apply-batch", {
      items: calls.map(({ from, meta }) => ({ meta, from, params: meta.Params })),
    });
    if (res.status === 404) {
      this.noBatch = true;
      return null;
    }
    const answers = res.body.results;
    if (res.status !== 200 || !Array.isArray(answers) || answers.length !== calls.length) {
      const why = refusal(res.status, res.body, res.text);
      return calls.map(() => ({ Error: why }));
    }
    return (answers as { result?: unknown; error?: unknown }[]).map((a) =>
      typeof a?.error === "string" ? { Error: a.error } : parseResult(a?.result),
    );
  }

  async checkpoint(): Promise<string> {
    const instance = this.running;
    // The runtime's state is asked for before the freeze (it answers over HTTP); CRIU dumps the
    // frozen container, so its memory and its files are one moment.
    const state = this.kind === "criu" ? undefined : await this.runtimeState(instance);
    // The processes are frozen while the workspace is read, so files they keep writing (SQLite,
    // caches) are archived as one crash-consistent moment, not torn.
    const thaw = await instance.freeze?.();
    let archive: Buffer;
    let dump: string | undefined;
    try {
      // Both read the frozen container: its memory (CRIU) and its files.
      [dump, archive] = await Promise.all([
        this.kind === "criu" ? this.dumpMemory(instance, false) : undefined,
        archiveWorkspace(this.ws),
      ]);
    } finally {
      await thaw?.();
    }
    const workspace = workspaceArchiveJson(archive);
    if (dump) {
      // vmdocker.criu.v2: the container's memory (by hash, kept on this host) plus the workspace;
      // a restore needs no replay.
      const pid = this.env.Meta.Pid;
      const image = await this.storeDump(instance, dump, pid, this.committedImage);
      this.committedImage = image.sha256;
      return JSON.stringify({
        format: CRIU_CHECKPOINT_FORMAT,
        checkpointName: dump,
        memoryImage: image,
        workspaceArchive: workspace,
        backend: this.spec.backend,
      });
    }
    // vmdocker.workspace.v1, upstream's fields; the container keeps running (upstream recreates it).
    return JSON.stringify({
      format: CHECKPOINT_FORMAT,
      workspaceArchive: workspace,
      workspaceCheckpointName: "workspace",
      runtimeState: state,
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
      // Env that came from Encrypted-Container-Env-* tags stays out of the (signed) checkpoint.
      runtimeEnv: Object.entries(workspaceEnv(this.ws, this.spec.containerEnv))
        .filter(([k]) => !this.secretEnv.has(k))
        .map(([k, v]) => `${k}=${v}`),
    });
  }

  /**
   * A rollback point: the runtime's state or, for criu, the container's memory. A criu rollback
   * stops the container with the dump, so the workspace cannot move on past the memory.
   */
  private async resumePoint(instance: Instance): Promise<ResumePoint> {
    if (this.kind === "criu") {
      const name = await this.dumpMemory(instance, true);
      const memory = await this.storeDump(instance, name, this.rollbackKey());
      return { kind: "criu", name, memory, rollback: true };
    }
    return { kind: "workspace", state: await this.runtimeState(instance) };
  }

  private async runtimeState(instance: Instance): Promise<string> {
    const res = await instance.call("checkpoint");
    if (res.status !== 200 || res.body.status !== "ok")
      throw new VmdError(
        "err_checkpoint",
        `the runtime could not checkpoint: ${res.text}`,
        "read the container's logs",
      );
    return String(res.body.state ?? "");
  }

  /** Dumps the container's memory through the engine (CRIU); answers the engine checkpoint's name. */
  private async dumpMemory(instance: Instance, exit: boolean): Promise<string> {
    const name = `vmd-${Date.now()}`;
    await this.client.createCheckpoint(instance.id, name, { exit });
    return name;
  }

  /** The engine checkpoint moved into the memory image store under `key` (then deleted from the engine). */
  private async storeDump(
    instance: Instance,
    name: string,
    key: string,
    keep?: string,
  ): Promise<MemoryImageRef> {
    try {
      return await this.memoryImages.put(key, await this.checkpointDir(instance.id, name), keep);
    } finally {
      await this.client.deleteCheckpoint(instance.id, name).catch(() => {});
    }
  }

  private rollbackKey(): string {
    return `${this.env.Meta.Pid}.rollback`;
  }

  private async checkpointDir(containerId: string, name: string): Promise<string> {
    this.engineRoot ??= this.client
      .info()
      .then((info) => String(info.DockerRootDir ?? "/var/lib/docker"));
    return join(await this.engineRoot, "containers", containerId, "checkpoints", name);
  }

  /** A fresh instance on the current workspace, from the container's memory (criu) or given the runtime's state. */
  private async resume(point: ResumePoint): Promise<void> {
    if (point.kind === "criu") {
      const memory = point.memory;
      const key = point.rollback ? this.rollbackKey() : this.env.Meta.Pid;
      const file = Buffer.isBuffer(memory) ? memory : await this.memoryImages.verified(key, memory);
      await this.launch({
        checkpoint: point.name,
        place: async (containerId) => {
          const dir = await this.checkpointDir(containerId, point.name);
          if (Buffer.isBuffer(file)) await unpackWorkspace(dir, file);
          else await this.memoryImages.unpack(file, dir);
        },
      });
      if (point.rollback) this.memoryImages.drop(key);
      else if (!Buffer.isBuffer(memory)) this.committedImage = memory.sha256;
      return;
    }
    await this.launch();
    const res = await this.running.call("restore", {
      owner: processOwner(this.env),
      env: this.env,
      tags: this.env.Process.Tags ?? [],
      state: point.state,
      ...this.moduleData(),
    });
    if (res.status !== 200)
      throw new VmdError(
        "err_restore",
        `the runtime refused the restore: ${res.text}`,
        "read the container's logs",
      );
  }

  /**
   * Spec §3.9: prepare the checkpoint's workspace, take a rollback point from the running
   * instance, put the workspace in place, resume; on failure put the old workspace back and resume
   * the previous runtime.
   */
  async restore(data: string): Promise<void> {
    const ckp = parseCheckpoint(data, this.spec.backend);
    // A CRIU-restored process finds its files by path and (OpenClaw) by inode: the live workspace
    // is rewritten in place. Otherwise the checkpoint is unpacked beside it and swapped in.
    const swap =
      ckp.resume.kind === "criu" && existsSync(this.ws)
        ? await this.inPlaceSwap(ckp.workspace)
        : await this.stagedSwap(ckp.workspace);
    const alive = this.instance ? await this.instance.running().catch(() => false) : false;
    let rollback: ResumePoint | undefined;
    try {
      rollback = alive ? await this.resumePoint(this.instance!) : undefined;
    } catch (err) {
      swap.discard();
      throw err;
    }
    await this.instance?.remove();
    this.instance = undefined;
    try {
      await swap.apply();
      await this.resume(ckp.resume);
    } catch (err) {
      // resume() may have left a half-started instance (TS cannot see the assignment inside it).
      const half = this.instance as Instance | undefined;
      this.instance = undefined;
      if (half) await removeLogged(half, "a failed restore", this.log);
      await swap.undo();
      const back = rollback
        ? await this.resume(rollback).then(
            () => "the process runs as before",
            (e: unknown) => `the previous runtime did not come back either: ${errorMessage(e)}`,
          )
        : "no runtime was running before";
      if (rollback) this.memoryImages.drop(this.rollbackKey());
      throw new VmdError(
        "err_restore",
        `restore failed (${errorMessage(err)}); ${back}`,
        "check the checkpoint and the container's logs",
      );
    }
    swap.done();
    if (rollback) this.memoryImages.drop(this.rollbackKey());
  }

  /** The checkpoint's workspace unpacked beside the live one, then swapped in by renames. */
  private async stagedSwap(archive: Buffer): Promise<WorkspaceSwap> {
    const stamp = process.hrtime.bigint();
    const staged = `${this.ws}.restore-${stamp}`;
    const backup = `${this.ws}.backup-${stamp}`;
    try {
      await unpackWorkspace(staged, archive);
      prepareWorkspace(staged);
    } catch (err) {
      rmSync(staged, { recursive: true, force: true });
      throw err;
    }
    const had = existsSync(this.ws);
    return {
      apply: async () => {
        if (had) renameSync(this.ws, backup);
        renameSync(staged, this.ws);
      },
      undo: async () => {
        if (had && !existsSync(backup)) return; // nothing was moved
        rmSync(this.ws, { recursive: true, force: true });
        if (had) renameSync(backup, this.ws);
      },
      done: () => rmSync(backup, { recursive: true, force: true }),
      discard: () => rmSync(staged, { recursive: true, force: true }),
    };
  }

  /** The live workspace rewritten in place (inodes kept), with its old contents kept for undo. */
  private async inPlaceSwap(archive: Buffer): Promise<WorkspaceSwap> {
    await listArchive(archive); // a broken archive fails here, before anything is stopped
    let before: Buffer | undefined;
    return {
      apply: async () => {
        before = await archiveWorkspace(this.ws);
        await overwriteWorkspace(this.ws, archive);
        prepareWorkspace(this.ws);
      },
      undo: async () => {
        if (before) await overwriteWorkspace(this.ws, before);
      },
      done: () => {},
      discard: () => {},
    };
  }

  async close(): Promise<void> {
    await this.instance?.remove();
    this.instance = undefined;
  }
}
