import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readdirSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { VmdError } from "../../errors.js";

function runTar(args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("tar", args, { stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else
        reject(
          new VmdError(
            "err_workspace_archive",
            `tar ${args[0]} failed: ${err.trim()}`,
            "check the workspace folder",
          ),
        );
    });
    if (input) child.stdin!.end(input);
  });
}

/** tar.gz of the workspace with relative paths (upstream's `vmdocker.runtime-workspace.v1` archive). */
export function archiveWorkspace(ws: string): Promise<Buffer> {
  return runTar(["-c", "-z", "-f", "-", "-C", ws, "--numeric-owner", "."]);
}

/**
 * A folder as a plain (uncompressed) tar written by tar itself to `file` (mode 0600), then hashed: answers the file's sha256 (hex) and size in bytes. Nothing of it is held in
 * memory. (Piping tar's output through Node to hash it on the way took 3–5× longer here.)
 * Throws err_workspace_archive when tar fails.
 */
export async function tarFolderToFile(
  dir: string,
  file: string,
): Promise<{ sha256: string; bytes: number }> {
  closeSync(openSync(file, "w", 0o600));
  await runTar(["-c", "-f", file, "-C", dir, "--numeric-owner", "."]);
  return hashFile(file);
}

/**
 * sha256 (hex) and size of a file, read through one reused 1 MB buffer (fresh buffers per read
 * cost more in page faults than the hashing on these VMs).
 */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  const fh = await open(file, "r");
  let bytes = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
  } finally {
    await fh.close();
  }
  return { sha256: hash.digest("hex"), bytes };
}

/**
 * Extracts a tar file, plain or gzip-compressed (tar tells which), into `dir` with the owners it
 * records. Throws err_workspace_archive when tar fails.
 */
export async function untarFile(file: string, dir: string): Promise<void> {
  await runTar(["-x", "-f", file, "-C", dir, "--same-owner", "--numeric-owner"]);
}

/**
 * Replaces the workspace's contents with an archive's, with the owners it records: files the
 * container's user made (OpenClaw's 0700 state folder) must stay that user's.
 */
export async function unpackWorkspace(ws: string, archive: Buffer): Promise<void> {
  mkdirSync(ws, { recursive: true });
  for (const entry of readdirSync(ws)) rmSync(join(ws, entry), { recursive: true, force: true });
  await runTar(["-xzf", "-", "-C", ws, "--same-owner", "--numeric-owner"], archive);
}

/**
 * Makes the workspace hold exactly an archive's contents while keeping the inode of every file
 * that already exists: a CRIU-restored process reopens its files by path, and applications that
 * remember a file's identity (OpenClaw's SQLite stores check dev:ino) must find the same file.
 */
export async function overwriteWorkspace(ws: string, archive: Buffer): Promise<void> {
  mkdirSync(ws, { recursive: true });
  const keep = await listArchive(archive);
  await runTar(["-xzf", "-", "-C", ws, "--overwrite", "--same-owner", "--numeric-owner"], archive);
  const prune = (dir: string, rel: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (!keep.has(path)) rmSync(join(dir, entry.name), { recursive: true, force: true });
      else if (entry.isDirectory()) prune(join(dir, entry.name), path);
    }
  };
  prune(ws, "");
}

/** The relative paths an archive holds (a broken archive throws). */
export async function listArchive(archive: Buffer): Promise<Set<string>> {
  const listed = (await runTar(["-tzf", "-"], archive)).toString("utf8").split("\n");
  return new Set(listed.map((p) => p.replace(/^\.\//, "").replace(/\/$/, "")).filter(Boolean));
}
