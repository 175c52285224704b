import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
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
    child.on("close", (code) =>
      code === 0
        ? resolve(Buffer.concat(out))
        : reject(
            new VmdError(
              "err_workspace_archive",
              `tar ${args[0]} failed: ${err.trim()}`,
              "check the workspace folder",
            ),
          ),
    );
    if (input) child.stdin!.end(input);
  });
}

/** tar.gz of the workspace with relative paths (upstream's `vmdocker.runtime-workspace.v1` archive). */
export function archiveWorkspace(ws: string): Promise<Buffer> {
  return runTar(["-czf", "-", "-C", ws, "--numeric-owner", "."]);
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
