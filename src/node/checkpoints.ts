import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataItem } from "../protocol/data-item.js";
import type { Cryptor } from "../protocol/ecies.js";
import { ProtocolError } from "../protocol/errors.js";
import { checkpointTags, type Env } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { Store } from "../store/types.js";
import type { ProcessState, ProcessTable } from "./processes.js";
import type { ProcessRunner } from "./runner.js";

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

export interface CheckpointsDeps {
  store: Store;
  signer: Signer;
  procs: ProcessTable;
  runner: ProcessRunner;
  /** Where checkpoint items are written (`ckp/`). */
  dir: string;
  cryptor?: Cryptor;
  /** Core processes (token, registry) cannot be stopped. */
  isCore: (pid: string) => boolean;
}

/**
 * Checkpoints beside the runner: a process's VM state and Env signed into a checkpoint item
 * between two applies (on its chain), periodic checkpoints of changed processes, and the admin
 * stop (checkpoint, close) and resume (restore, catch up).
 */
export class Checkpoints {
  constructor(private readonly deps: CheckpointsDeps) {}

  /** A stored checkpoint item's snapshot, decrypted; null when its file is gone. */
  snapshot(checkpointId: string): Snapshot | null {
    return readCheckpoint(this.deps.dir, checkpointId, this.deps.cryptor);
  }

  /** The snapshot of a process's latest checkpoint, or null when it has none (or its file is gone). */
  async latest(pid: string): Promise<Snapshot | null> {
    const id = await this.deps.store.checkpoint(pid);
    return id ? this.snapshot(id) : null;
  }

  /**
   * Checkpoints a process between two applies; resolves with the checkpoint item id (null when
   * the process has no VM). Throws err_process_not_found, or what the VM's checkpoint throws.
   */
  checkpoint(pid: string): Promise<string | null> {
    const state = this.deps.procs.get(pid);
    if (!state) return Promise.reject(new ProtocolError("err_process_not_found"));
    return this.deps.procs.run(state, () => this.take(state));
  }

  private async take(state: ProcessState): Promise<string | null> {
    if (!state.vm) return null;
    const snap: Snapshot = {
      Env: state.env,
      Data: await state.vm.checkpoint(),
      Outbox: JSON.stringify({ i: state.pid, t: {} }),
    };
    const id = writeCheckpoint(this.deps.dir, this.deps.signer, state.pid, snap, this.deps.cryptor);
    await this.deps.store.setCheckpoint(state.pid, id);
    state.checkpointedNonce = state.env.Nonce;
    return id;
  }

  /** Checkpoints every running process that applied something since its last checkpoint; resolves with how many. */
  async checkpointChanged(): Promise<number> {
    const due = this.deps.procs
      .all()
      .filter((s) => s.vm && !s.stopped && s.env.Nonce > s.checkpointedNonce);
    await Promise.all(due.map((s) => this.checkpoint(s.pid)));
    return due.length;
  }

  /**
   * Admin stop: checkpoint, close the VM, refuse messages until resumed. When the checkpoint or
   * the close fails, the process keeps running and answering, and the error is thrown.
   * Throws err_core_process_cannot_stop, err_process_not_found, err_process_stopped.
   */
  async stop(pid: string): Promise<void> {
    if (this.deps.isCore(pid)) throw new ProtocolError("err_core_process_cannot_stop");
    const state = this.deps.procs.get(pid);
    if (!state) throw new ProtocolError("err_process_not_found");
    if (state.stopped) throw new ProtocolError("err_process_stopped");
    state.stopped = true;
    try {
      await this.deps.procs.run(state, async () => {
        await this.take(state);
        await state.vm?.close();
        state.vm = undefined;
      });
    } catch (err) {
      state.stopped = false;
      throw err;
    }
  }

  /**
   * Admin resume: restore from the latest checkpoint and catch up on stored messages.
   * Throws err_process_not_found, err_process_already_exist (not stopped), err_checkpoint_not_found.
   */
  async resume(pid: string): Promise<void> {
    const state = this.deps.procs.get(pid);
    if (!state) throw new ProtocolError("err_process_not_found");
    if (!state.stopped) throw new ProtocolError("err_process_already_exist");
    const snap = await this.latest(pid);
    if (!snap) throw new ProtocolError("err_checkpoint_not_found");
    await this.deps.procs.run(state, async () => {
      await this.deps.runner.restoreFrom(state, snap);
      await this.deps.runner.catchUp(state, "normal");
      state.stopped = false;
    });
  }
}
