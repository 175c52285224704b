import { z } from "zod";
import { VmdError } from "../../errors.js";
import type { MemoryImageRef } from "./memory-images.js";

export const CHECKPOINT_FORMAT = "vmdocker.workspace.v1";
/** v2 names its memory image by hash (kept on the host); v1 carried it inline and is still read. */
export const CRIU_CHECKPOINT_FORMAT = "vmdocker.criu.v2";
const CRIU_V1 = "vmdocker.criu.v1";

export type CheckpointKind = "workspace" | "criu";

const WorkspaceCheckpoint = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  workspaceArchive: z.string(),
  runtimeState: z.string(),
  backend: z.string(),
});

const criuFields = {
  checkpointName: z.string(),
  workspaceArchive: z.string(),
  backend: z.string(),
};
const CriuCheckpoint = z.union([
  z.object({
    ...criuFields,
    format: z.literal(CRIU_CHECKPOINT_FORMAT),
    memoryImage: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number() }),
  }),
  z.object({ ...criuFields, format: z.literal(CRIU_V1), checkpointArchive: z.string() }),
]);

const WorkspaceArchive = z.object({ archive: z.string() });

/** What a process resumes from: the runtime's state (workspace kind) or the container's memory (criu kind). */
export type ResumePoint =
  | { kind: "workspace"; state: string }
  | {
      kind: "criu";
      name: string;
      /** v1's inline tar.gz, or an image in the host's store (under `<pid>.rollback` when `rollback`). */
      memory: Buffer | MemoryImageRef;
      rollback?: boolean;
    };

export interface ParsedCheckpoint {
  workspace: Buffer;
  resume: ResumePoint;
}

/** upstream's `workspaceArchive` field: a JSON string around the base64 tar.gz. */
export const workspaceArchiveJson = (archive: Buffer) =>
  JSON.stringify({
    format: "vmdocker.runtime-workspace.v1",
    name: "workspace",
    archive: archive.toString("base64"),
  });

/** Reads a `vmdocker.workspace.v1` or `vmdocker.criu.v1` checkpoint made for `backend`. */
export function parseCheckpoint(data: string, backend: string): ParsedCheckpoint {
  let json: { backend?: unknown };
  try {
    json = JSON.parse(data) as { backend?: unknown };
  } catch {
    json = {};
  }
  if (json.backend !== undefined && json.backend !== backend) {
    throw new VmdError(
      "err_checkpoint_backend",
      `the checkpoint is for ${String(json.backend)}, this process runs on ${backend}`,
      "restore on the same backend",
    );
  }
  const criu = CriuCheckpoint.safeParse(json);
  const ws = WorkspaceCheckpoint.safeParse(json);
  const archiveField = criu.success ? criu.data.workspaceArchive : ws.data?.workspaceArchive;
  let archive: z.infer<typeof WorkspaceArchive> | undefined;
  try {
    archive = WorkspaceArchive.parse(JSON.parse(archiveField ?? ""));
  } catch {
    archive = undefined;
  }
  if (!archive) {
    throw new VmdError(
      "err_checkpoint_format",
      `not a ${CHECKPOINT_FORMAT}, ${CRIU_CHECKPOINT_FORMAT} or ${CRIU_V1} checkpoint`,
      "restore a checkpoint made by vmdocker",
    );
  }
  const workspace = Buffer.from(archive.archive, "base64");
  if (criu.success) {
    const c = criu.data;
    const memory =
      c.format === CRIU_V1 ? Buffer.from(c.checkpointArchive, "base64") : c.memoryImage;
    return { workspace, resume: { kind: "criu", name: c.checkpointName, memory } };
  }
  return { workspace, resume: { kind: "workspace", state: ws.data!.runtimeState } };
}
