import { existsSync } from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import { silentLogger, type Logger } from "../../log.js";
import { aoWasmRuntime, isAoWasmModule } from "../../module/ao-wasm.js";
import { ensureModuleImage } from "../../module/load.js";
import type { Env } from "../../protocol/hymx.js";
import type { Tag } from "../../protocol/tags.js";
import { DockerBackend, DEFAULT_LIMITS, type Limits } from "../../runtime/backends/docker.js";
import { SandboxBackend } from "../../runtime/backends/sandbox.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import { workspacePath } from "../../runtime/workspace.js";
import { run } from "../../sys/exec.js";
import type { VmFactory } from "../contract.js";
import {
  CHECKPOINT_FORMAT,
  CRIU_CHECKPOINT_FORMAT,
  type CheckpointKind,
} from "./checkpoint-format.js";
import { CriuMemory } from "./criu-memory.js";
import { MemoryImages } from "./memory-images.js";
import { VmdockerVm, type Launcher } from "./process-vm.js";
import { resolveRuntimeSpec, type RuntimeSpec } from "./spec.js";
import { WarmPool, type PoolTemplate } from "./warm-pool.js";

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
  let engineRoot: Promise<string> | undefined;
  // The engine's data folder, asked once; a failed ask is asked again next time.
  const engineRootOnce = () =>
    (engineRoot ??= opts.client.info().then(
      (info) => String(info.DockerRootDir ?? "/var/lib/docker"),
      (err: unknown) => {
        engineRoot = undefined;
        throw err;
      },
    ));
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
      launcher,
      env,
      spec,
      kind,
      template,
      workspacePath(opts.workspaceRoot, pid),
      healthTimeoutMs,
      new CriuMemory(opts.client, memoryImages, pid, engineRootOnce),
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
