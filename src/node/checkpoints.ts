import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataItem } from "../protocol/data-item.js";
import type { Cryptor } from "../protocol/ecies.js";
import { ProtocolError } from "../protocol/errors.js";
import { checkpointTags, type Env } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";

/** hymx's checkpoint snapshot: the process Env, the VM's opaque state, and the outbox. */
export interface Snapshot {
  Env: Env;
  Data: string;
  Outbox: string;
}

/**
 * The VM's state can hold what a process keeps on disk (an OpenClaw workspace holds its API keys),
 * so a node with an encryption key stores it ECIES-encrypted to itself; this tag says so.
 */
const ENCRYPTION_TAG = "Checkpoint-Encryption";
const ENCRYPTION = "ecies";

/** Signs a snapshot as a Type=Checkpoint item and writes `<dir>/ckp-<id>.json` (atomically). */
export function writeCheckpoint(
  dir: string,
  signer: Signer,
  pid: string,
  snap: Snapshot,
  cryptor?: Cryptor,
): string {
  const stored = cryptor ? { ...snap, Data: cryptor.encrypt(snap.Data) } : snap;
  const item = DataItem.sign(
    {
      data: JSON.stringify(stored),
      tags: [
        ...checkpointTags({ process: pid, nonce: snap.Env.Nonce }),
        ...(cryptor ? [{ name: ENCRYPTION_TAG, value: ENCRYPTION }] : []),
      ],
    },
    signer,
  );
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `ckp-${item.id}.json`);
  writeFileSync(`${file}.partial`, JSON.stringify(item.toJSON()));
  renameSync(`${file}.partial`, file);
  return item.id;
}

/** Reads, verifies and (when it was encrypted) decrypts a checkpoint item; null when the file is gone. */
export function readCheckpoint(dir: string, id: string, cryptor?: Cryptor): Snapshot | null {
  const file = join(dir, `ckp-${id}.json`);
  if (!existsSync(file)) return null;
  const item = DataItem.fromJSON(JSON.parse(readFileSync(file, "utf8")));
  if (!item.verify()) throw new ProtocolError("err_invalid_checkpoint", `${file} does not verify`);
  const snap = JSON.parse(item.data.toString("utf8")) as Snapshot;
  if (item.tag(ENCRYPTION_TAG) !== ENCRYPTION) return snap;
  if (!cryptor)
    throw new ProtocolError(
      "err_invalid_checkpoint",
      `${file} is encrypted and this node has no encryption key (set prvKey to the key that wrote it)`,
    );
  try {
    return { ...snap, Data: cryptor.decrypt(snap.Data) };
  } catch {
    throw new ProtocolError(
      "err_invalid_checkpoint",
      `${file} was encrypted for another node key (set prvKey to the key that wrote it)`,
    );
  }
}
