import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";

/** A CRIU memory image kept beside the node's data, named in the signed checkpoint by its hash. */
export interface MemoryImageRef {
  sha256: string;
  bytes: number;
}

/**
 * A process's memory can be hundreds of MB (OpenClaw's gateway: about 700 MB), too big to travel
 * inside a signed checkpoint item, and it holds whatever secrets the process had in memory. So it
 * stays on this host, mode 0600, as `<pid>-<sha256>.tar.gz`, and the checkpoint carries its hash.
 */
export class MemoryImages {
  constructor(private readonly dir: string) {}

  private file(pid: string, sha256: string): string {
    return join(this.dir, `${pid}-${sha256}.tar.gz`);
  }

  /**
   * Stores a new image of `pid` and removes its older ones except `keep` (the image of the
   * checkpoint the node has committed, needed until the new one is committed).
   */
  put(pid: string, archive: Buffer, keep?: string): MemoryImageRef {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const sha256 = createHash("sha256").update(archive).digest("hex");
    const file = this.file(pid, sha256);
    writeFileSync(`${file}.partial`, archive, { mode: 0o600 });
    renameSync(`${file}.partial`, file);
    for (const name of readdirSync(this.dir))
      if (name.startsWith(`${pid}-`) && ![sha256, keep].some((s) => s && name.includes(s)))
        rmSync(join(this.dir, name), { force: true });
    return { sha256, bytes: archive.length };
  }

  get(pid: string, ref: MemoryImageRef): Buffer {
    let archive: Buffer;
    try {
      archive = readFileSync(this.file(pid, ref.sha256));
    } catch {
      throw new VmdError(
        "err_checkpoint_memory_missing",
        `the memory image ${ref.sha256.slice(0, 12)} of this checkpoint is not in ${this.dir}`,
        "restore on the host that took the checkpoint, or respawn the process",
      );
    }
    const sha256 = createHash("sha256").update(archive).digest("hex");
    if (sha256 !== ref.sha256)
      throw new VmdError(
        "err_checkpoint_memory_corrupt",
        `the memory image ${ref.sha256.slice(0, 12)} does not match its hash`,
        "respawn the process",
      );
    return archive;
  }
}
