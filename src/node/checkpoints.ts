import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataItem } from "../protocol/data-item.js";
import { ProtocolError } from "../protocol/errors.js";
import { checkpointTags, type Env } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";

/** hymx's checkpoint snapshot: the process Env, the VM's opaque state, and the outbox. */
export interface Snapshot {
  Env: Env;
  Data: string;
  Outbox: string;
}

/** Signs a snapshot as a Type=Checkpoint item and writes `<dir>/ckp-<id>.json` (atomically). */
export function writeCheckpoint(dir: string, signer: Signer, pid: string, snap: Snapshot): string {
  const item = DataItem.sign(
    { data: JSON.stringify(snap), tags: checkpointTags({ process: pid, nonce: snap.Env.Nonce }) },
    signer,
  );
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `ckp-${item.id}.json`);
  writeFileSync(`${file}.partial`, JSON.stringify(item.toJSON()));
  renameSync(`${file}.partial`, file);
  return item.id;
}

/** Reads and verifies a checkpoint item; null when the file is gone. */
export function readCheckpoint(dir: string, id: string): Snapshot | null {
  const file = join(dir, `ckp-${id}.json`);
  if (!existsSync(file)) return null;
  const item = DataItem.fromJSON(JSON.parse(readFileSync(file, "utf8")));
  if (!item.verify()) throw new ProtocolError("err_invalid_checkpoint", `${file} does not verify`);
  return JSON.parse(item.data.toString("utf8")) as Snapshot;
}
