import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
} from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { VmdError } from "../../errors.js";

/** tar with `args`: its output is the answer, or goes to the file descriptor `to`. */
function runTar(args: string[], input?: Buffer, to?: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("tar", args, { stdio: [input ? "pipe" : "ignore", to ?? "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else
        reject(
          new VmdError(
            "err_workspace_archive",
            `tar ${args[0]} failed: ${err.trim().split("\n").join("; ")}`,
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
 * A folder as a plain (uncompressed) tar written by tar itself into `file`, a new file (mode 0600)
 * that must not exist yet and is never reached through a symbolic link, then hashed: answers the
 * file's sha256 (hex) and size in bytes. Nothing of it is held in memory. (Piping tar's output
 * through Node to hash it on the way took 3–5× longer here.) Throws err_workspace_archive when
 * tar fails, EEXIST when `file` exists.
 */
export async function tarFolderToFile(
  dir: string,
  file: string,
): Promise<{ sha256: string; bytes: number }> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  const fd = openSync(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    await runTar(["-c", "-f", "-", "-C", dir, "--numeric-owner", "."], undefined, fd);
  } finally {
    closeSync(fd);
  }
  return hashFile(file);
}

/**
 * sha256 (hex) and size of a file (not through a symbolic link: ELOOP), read through one reused
 * 1 MB buffer (fresh buffers per read cost more in page faults than the hashing on these VMs).
 */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  const buf = Buffer.allocUnsafe(1 << 20);
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
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
 * What the archive holds is learnt from a second extraction beside the workspace, compared by raw
 * name bytes: tar's listing escapes names (a `\\`, a tab or a newline in a name) and would not match.
 */
export async function overwriteWorkspace(ws: string, archive: Buffer): Promise<void> {
  mkdirSync(ws, { recursive: true });
  const mirror = mkdtempSync(`${ws}.list-`);
  try {
    await runTar(["-xzf", "-", "-C", mirror, "--same-owner", "--numeric-owner"], archive);
    await runTar(
      ["-xzf", "-", "-C", ws, "--overwrite", "--same-owner", "--numeric-owner"],
      archive,
    );
    pruneMissing(Buffer.from(ws), Buffer.from(mirror));
  } finally {
    rmSync(mirror, { recursive: true, force: true });
  }
}

const SLASH = Buffer.from("/");

/** Removes what is in `dir` but not in `mirror`, recursively (names as bytes). */
function pruneMissing(dir: Buffer, mirror: Buffer): void {
  for (const entry of readdirSync(dir, { withFileTypes: true, encoding: "buffer" })) {
    const here = Buffer.concat([dir, SLASH, entry.name]);
    const there = Buffer.concat([mirror, SLASH, entry.name]);
    const twin = lstatSync(there, { throwIfNoEntry: false });
    if (!twin) rmSync(here, { recursive: true, force: true });
    else if (entry.isDirectory() && twin.isDirectory()) pruneMissing(here, there);
  }
}

/** Throws err_workspace_archive when an archive is not a readable tar.gz. */
export async function checkArchive(archive: Buffer): Promise<void> {
  await runTar(["-tzf", "-"], archive);
}
