import { existsSync, rmSync } from "node:fs";
import { VmdError, errorMessage } from "../../errors.js";
import { ProtocolError } from "../../protocol/errors.js";
import { processOwner, ResultSchema, type Env, type Meta } from "../../protocol/hymx.js";
import {
  removeAndRethrow,
  removeLogged,
  waitHealthy,
  type Instance,
  type InstanceSpec,
} from "../../runtime/backends/instance.js";
import { prepareWorkspace, workspaceEnv } from "../../runtime/workspace.js";
import { VmGoneError, type Vm, type VmResult } from "../contract.js";
import {
  CHECKPOINT_FORMAT,
  CRIU_CHECKPOINT_FORMAT,
  parseCheckpoint,
  workspaceArchiveJson,
  type CheckpointKind,
  type ResumePoint,
} from "./checkpoint-format.js";
import type { CriuMemory } from "./criu-memory.js";
import type { MemoryImageRef } from "./memory-images.js";
import type { RuntimeSpec } from "./spec.js";
import type { PoolTemplate } from "./warm-pool.js";
import { archiveWorkspace } from "./workspace-archive.js";
import { inPlaceSwap, stagedSwap } from "./workspace-swap.js";

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

export type RestoreFrom = { checkpoint: string; place: (containerId: string) => Promise<void> };
export type Launcher = (spec: InstanceSpec, restoreFrom?: RestoreFrom) => Promise<Instance>;

/** One process in its own container (or sandbox), driven over `/vmm/*`; see `vmdocker`. */
export class VmdockerVm implements Vm {
  private instance?: Instance;
  readonly name: string;
  private readonly secretEnv: Set<string>;
  /** The memory image of the checkpoint this process last restored from or took. */
  private committedImage?: string;
  /** The runtime has no `/vmm/apply-batch`. */
  private noBatch = false;
  spawnResult?: VmResult;

  constructor(
    private readonly launcher: Launcher,
    private readonly env: Env,
    private readonly spec: RuntimeSpec,
    private readonly kind: CheckpointKind,
    private readonly template: PoolTemplate,
    readonly ws: string,
    private readonly healthTimeoutMs: number,
    private readonly criu: CriuMemory,
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
    let dump: { name: string; memory: MemoryImageRef } | undefined;
    try {
      // Both read the frozen container: its memory (CRIU) and its files.
      [dump, archive] = await Promise.all([
        this.kind === "criu"
          ? this.criu.take(instance.id, { exit: false, keep: this.committedImage })
          : undefined,
        archiveWorkspace(this.ws),
      ]);
    } finally {
      await thaw?.();
    }
    const workspace = workspaceArchiveJson(archive);
    if (dump) {
      // vmdocker.criu.v2: the container's memory (by hash, kept on this host) plus the workspace;
      // a restore needs no replay.
      this.committedImage = dump.memory.sha256;
      return JSON.stringify({
        format: CRIU_CHECKPOINT_FORMAT,
        checkpointName: dump.name,
        memoryImage: dump.memory,
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
      const { name, memory } = await this.criu.take(instance.id, { exit: true, rollback: true });
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

  /** A fresh instance on the current workspace, from the container's memory (criu) or given the runtime's state. */
  private async resume(point: ResumePoint): Promise<void> {
    if (point.kind === "criu") {
      await this.launch({ checkpoint: point.name, place: await this.criu.placer(point) });
      if (!Buffer.isBuffer(point.memory) && !point.rollback)
        this.committedImage = point.memory.sha256;
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
        ? await inPlaceSwap(this.ws, ckp.workspace)
        : await stagedSwap(this.ws, ckp.workspace);
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
      if (rollback) this.criu.dropRollback();
      // A coded cause (a missing or corrupt memory image…) keeps its code and its fix.
      const coded = err instanceof VmdError ? err : undefined;
      throw new VmdError(
        coded?.code ?? "err_restore",
        `restore failed (${errorMessage(err)}); ${back}`,
        coded?.hint ?? "check the checkpoint and the container's logs",
        { cause: err },
      );
    }
    swap.done();
    if (rollback) this.criu.dropRollback();
  }

  async close(): Promise<void> {
    await this.instance?.remove();
    this.instance = undefined;
  }
}
