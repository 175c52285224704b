import { existsSync, renameSync, rmSync } from "node:fs";
import { prepareWorkspace } from "../../runtime/workspace.js";
import {
  archiveWorkspace,
  checkArchive,
  overwriteWorkspace,
  unpackWorkspace,
} from "./workspace-archive.js";

/** How a restore puts the checkpoint's workspace in place, and takes it back. */
export interface WorkspaceSwap {
  apply(): Promise<void>;
  undo(): Promise<void>;
  /** After a good restore. */
  done(): void;
  /** When the restore stops before apply. */
  discard(): void;
}

/** The checkpoint's workspace unpacked beside the live one, then swapped in by renames. */
export async function stagedSwap(ws: string, archive: Buffer): Promise<WorkspaceSwap> {
  const stamp = process.hrtime.bigint();
  const staged = `${ws}.restore-${stamp}`;
  const backup = `${ws}.backup-${stamp}`;
  try {
    await unpackWorkspace(staged, archive);
    prepareWorkspace(staged);
  } catch (err) {
    rmSync(staged, { recursive: true, force: true });
    throw err;
  }
  const had = existsSync(ws);
  return {
    apply: async () => {
      if (had) renameSync(ws, backup);
      renameSync(staged, ws);
    },
    undo: async () => {
      if (had && !existsSync(backup)) return; // nothing was moved
      rmSync(ws, { recursive: true, force: true });
      if (had) renameSync(backup, ws);
    },
    done: () => rmSync(backup, { recursive: true, force: true }),
    discard: () => rmSync(staged, { recursive: true, force: true }),
  };
}

/** The live workspace rewritten in place (inodes kept), with its old contents kept for undo. */
export async function inPlaceSwap(ws: string, archive: Buffer): Promise<WorkspaceSwap> {
  await checkArchive(archive); // a broken archive fails here, before anything is stopped
  let before: Buffer | undefined;
  return {
    apply: async () => {
      before = await archiveWorkspace(ws);
      await overwriteWorkspace(ws, archive);
      prepareWorkspace(ws);
    },
    undo: async () => {
      if (before) await overwriteWorkspace(ws, before);
    },
    done: () => {},
    discard: () => {},
  };
}
