import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { VmdError, errorMessage } from "../../errors.js";
import { hashFile, tarFolderToFile, untarFile } from "./workspace-archive.js";

/** A CRIU memory image kept beside the node's data, named in the signed checkpoint by its hash. */
export interface MemoryImageRef {
  /** sha256 (hex) of the image file. */
  sha256: string;
  /** The image file's size. */
  bytes: number;
}

/**
 * A process's memory can be hundreds of MB (OpenClaw's gateway: about 700 MB), too big to travel
 * inside a signed checkpoint item, and it holds whatever secrets the process had in memory. So it
 * stays on this host, mode 0600, as `<key>-<sha256>.tar` (the engine's CRIU image folder as a
 * plain tar: packing it is a copy, not a compression, so a checkpoint costs little more than the
 * engine's own), and the checkpoint carries its hash. Images written before 2026-11-30 are
 * `<key>-<sha256>.tar.gz` and are still read. A key is a process id, or `<pid>.rollback` for the
 * memory a failed restore goes back to.
 */
export class MemoryImages {
  constructor(private readonly dir: string) {}

  private file(key: string, sha256: string, ext = "tar"): string {
    return join(this.dir, `${key}-${sha256}.${ext}`);
  }

  /**
   * Stores the CRIU image folder `from` as a new image of `key` and removes its older ones except
   * `keep` (the image of the checkpoint the node has committed, needed until the new one is
   * committed). Throws err_checkpoint_memory_write when the folder cannot be read or the image
   * cannot be written (no space, no permission, the store's folder is not a folder).
   */
  async put(key: string, from: string, keep?: string): Promise<MemoryImageRef> {
    const partial = join(this.dir, `${key}.partial`);
    let ref: MemoryImageRef;
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      chmodSync(this.dir, 0o700);
      rmSync(partial, { force: true });
      ref = await tarFolderToFile(from, partial);
      renameSync(partial, this.file(key, ref.sha256));
    } catch (err) {
      throw new VmdError(
        "err_checkpoint_memory_write",
        `could not store the memory image in ${this.dir}: ${errorMessage(err)}`,
        `check the free space and the permissions of ${this.dir}`,
        { cause: err },
      );
    } finally {
      try {
        rmSync(partial, { force: true });
      } catch {
        // the folder itself is what failed, reported above
      }
    }
    this.prune(key, [ref.sha256, keep]);
    return ref;
  }

  /**
   * The file of an image after checking it against its hash; a link or a folder in its place
   * counts as missing.
   * Throws err_checkpoint_memory_missing, err_checkpoint_memory_corrupt.
   */
  async verified(key: string, ref: MemoryImageRef): Promise<string> {
    const file = [this.file(key, ref.sha256), this.file(key, ref.sha256, "tar.gz")].find((f) =>
      lstatSync(f, { throwIfNoEntry: false })?.isFile(),
    );
    if (!file)
      throw new VmdError(
        "err_checkpoint_memory_missing",
        `the memory image ${ref.sha256.slice(0, 12)} of this checkpoint is not in ${this.dir}`,
        "restore on the host that took the checkpoint, or respawn the process",
      );
    const { sha256 } = await hashFile(file).catch(() => ({ sha256: "" }));
    if (sha256 !== ref.sha256)
      throw new VmdError(
        "err_checkpoint_memory_corrupt",
        `the memory image ${ref.sha256.slice(0, 12)} does not match its hash`,
        "respawn the process",
      );
    return file;
  }

  /** Unpacks a verified image file (see `verified`) into an engine checkpoint folder. */
  unpack(file: string, into: string): Promise<void> {
    mkdirSync(into, { recursive: true });
    return untarFile(file, into);
  }

  /** Removes every image of `key`. */
  drop(key: string): void {
    if (existsSync(this.dir)) this.prune(key, []);
  }

  /** Removes the images of `key` whose hash is not one of `keep`. */
  private prune(key: string, keep: (string | undefined)[]): void {
    for (const name of readdirSync(this.dir))
      if (name.startsWith(`${key}-`) && !keep.some((s) => s && name.includes(s)))
        rmSync(join(this.dir, name), { force: true });
  }
}
