import { join } from "node:path";
import type { DockerClient } from "../../runtime/docker/client.js";
import type { ResumePoint } from "./checkpoint-format.js";
import type { MemoryImageRef, MemoryImages } from "./memory-images.js";
import { unpackWorkspace } from "./workspace-archive.js";

type CriuPoint = Extract<ResumePoint, { kind: "criu" }>;

/**
 * One process's container memory through the engine's CRIU checkpoints: dumps, moved into the
 * host's memory image store (under the process id, or `<pid>.rollback` for the memory a failed
 * restore goes back to), and put back into a new container's checkpoint folder.
 */
export class CriuMemory {
  /** `engineRoot`: the engine's data folder (where its checkpoints are), asked once per mount. */
  constructor(
    private readonly client: DockerClient,
    private readonly images: MemoryImages,
    private readonly pid: string,
    private readonly engineRoot: () => Promise<string>,
  ) {}

  /**
   * Dumps a container's memory (`exit`: and stops it) and moves it into the store; answers the
   * engine checkpoint's name and the image. `keep` is the image the committed checkpoint names.
   * Throws the engine's error, or err_checkpoint_memory_write when the dump cannot be stored.
   */
  async take(
    containerId: string,
    opts: { exit: boolean; rollback?: boolean; keep?: string },
  ): Promise<{ name: string; memory: MemoryImageRef }> {
    const name = `vmd-${Date.now()}`;
    await this.client.createCheckpoint(containerId, name, { exit: opts.exit });
    try {
      const dir = await this.checkpointDir(containerId, name);
      return { name, memory: await this.images.put(this.key(opts.rollback), dir, opts.keep) };
    } finally {
      await this.client.deleteCheckpoint(containerId, name).catch(() => {});
    }
  }

  /**
   * Checks a point's image against its hash (before any container is made) and answers what puts
   * it into a new container's checkpoint folder. Throws err_checkpoint_memory_missing,
   * err_checkpoint_memory_corrupt.
   */
  async placer(point: CriuPoint): Promise<(containerId: string) => Promise<void>> {
    const memory = point.memory;
    const file = Buffer.isBuffer(memory)
      ? memory
      : await this.images.verified(this.key(point.rollback), memory);
    return async (containerId) => {
      const dir = await this.checkpointDir(containerId, point.name);
      if (Buffer.isBuffer(file)) await unpackWorkspace(dir, file);
      else await this.images.unpack(file, dir);
    };
  }

  /** Removes the rollback image, once a restore is over either way. */
  dropRollback(): void {
    this.images.drop(this.key(true));
  }

  private key(rollback?: boolean): string {
    return rollback ? `${this.pid}.rollback` : this.pid;
  }

  private async checkpointDir(containerId: string, name: string): Promise<string> {
    return join(await this.engineRoot(), "containers", containerId, "checkpoints", name);
  }
}
