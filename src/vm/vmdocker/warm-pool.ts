import type { Logger } from "../../log.js";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { errorMessage } from "../../errors.js";
import {
  removeLogged,
  waitHealthy,
  type Instance,
  type InstanceSpec,
} from "../../runtime/backends/instance.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import { prepareWorkspace, workspaceEnv } from "../../runtime/workspace.js";

export const POOL_NAME_PREFIX = "vmdocker_pool_";

/** What a pooled instance is made from: everything of an InstanceSpec the process does not decide. */
export type PoolTemplate = Omit<InstanceSpec, "name" | "env" | "workspace"> & {
  containerEnv: Record<string, string>;
};

interface Warm {
  instance: Instance;
  workspace: string;
}

export interface WarmPoolOptions {
  client: DockerClient;
  /** Instances per template kept started and healthy. */
  size: number;
  /** `<root>/sandbox_workspace`: pool workspaces live in its `.pool/` and move to `<pid>` when taken. */
  workspaces: string;
  launch: (spec: InstanceSpec) => Promise<Instance>;
  healthTimeoutMs: number;
  log: Logger;
}

const keyOf = (t: PoolTemplate) =>
  JSON.stringify([t.image, t.argv, t.containerEnv, t.limits, t.user ?? ""]);

/**
 * Started, healthy instances per runtime template, so a spawn of a module that ran before skips
 * container creation, start and the runtime's boot. A taken instance is renamed `hymatrix_<pid>`
 * and its workspace folder moved to `sandbox_workspace/<pid>` on the host (the running container
 * keeps its bind: inside it the workspace stays at the pool path its env names).
 */
export class WarmPool {
  private readonly idle = new Map<string, Warm[]>();
  private readonly filling = new Map<string, Promise<void>>();
  private closed = false;
  /** Pool containers are named per workspace root, so nodes sharing an engine keep apart. */
  private readonly prefix: string;

  constructor(private readonly opts: WarmPoolOptions) {
    const scope = createHash("sha256").update(opts.workspaces).digest("hex").slice(0, 8);
    this.prefix = `${POOL_NAME_PREFIX}${scope}_`;
  }

  /** Removes pool containers and folders a previous run left behind (a crash). */
  async sweep(): Promise<void> {
    const stale = await this.opts.client.listContainers({ name: [this.prefix] });
    await Promise.all(
      stale
        .filter((c) => c.Names.some((n) => n.startsWith(`/${this.prefix}`)))
        .map((c) => this.opts.client.removeContainer(c.Id, { force: true }).catch(() => {})),
    );
    rmSync(join(this.opts.workspaces, ".pool"), { recursive: true, force: true });
  }

  /** A warm instance for the template, now named `name` with its workspace at `workspace`; undefined when none is ready. */
  async take(
    template: PoolTemplate,
    name: string,
    workspace: string,
  ): Promise<Instance | undefined> {
    if (this.opts.size === 0 || existsSync(workspace)) return undefined;
    const warm = this.idle.get(keyOf(template))?.shift();
    if (!warm) return undefined;
    try {
      if (!(await warm.instance.running())) throw new Error("it stopped while idle");
      await this.opts.client.renameContainer(warm.instance.id, name);
      renameSync(warm.workspace, workspace);
      return { ...warm.instance, name };
    } catch (err) {
      this.opts.log.warn(`warm pool: dropped ${warm.instance.name}: ${errorMessage(err)}`);
      await this.discard(warm);
      return undefined;
    }
  }

  /** Tops the template's pool up to size in the background. */
  fill(template: PoolTemplate): void {
    const key = keyOf(template);
    if (this.opts.size === 0 || this.closed || this.filling.has(key)) return;
    const work = (async () => {
      const list = this.idle.get(key) ?? [];
      this.idle.set(key, list);
      while (!this.closed && list.length < this.opts.size) list.push(await this.make(template));
    })()
      .catch((err: unknown) =>
        this.opts.log.warn(`warm pool: could not start an instance: ${errorMessage(err)}`),
      )
      .finally(() => this.filling.delete(key));
    this.filling.set(key, work);
  }

  /** Resolves when no fill is under way. */
  async settled(): Promise<void> {
    while (this.filling.size > 0) await Promise.all(this.filling.values());
  }

  size(): number {
    return [...this.idle.values()].reduce((n, l) => n + l.length, 0);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.settled();
    const all = [...this.idle.values()].flat();
    this.idle.clear();
    await Promise.all(all.map((w) => this.discard(w)));
  }

  private async make(template: PoolTemplate): Promise<Warm> {
    const id = randomBytes(6).toString("hex");
    const workspace = prepareWorkspace(join(this.opts.workspaces, ".pool", id));
    const { containerEnv, ...rest } = template;
    const instance = await this.opts.launch({
      ...rest,
      name: `${this.prefix}${id}`,
      env: workspaceEnv(workspace, containerEnv),
      workspace,
    });
    const warm = { instance, workspace };
    try {
      await waitHealthy(instance, this.opts.healthTimeoutMs);
    } catch (err) {
      await this.discard(warm);
      throw err;
    }
    return warm;
  }

  /** Removes a pool instance and its folder; what cannot be removed is logged, not thrown. */
  private async discard(warm: Warm): Promise<void> {
    await removeLogged(warm.instance, "leaving the warm pool", (line) => this.opts.log.warn(line));
    rmSync(warm.workspace, { recursive: true, force: true });
  }
}
