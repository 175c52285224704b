import type { Logger } from "../log.js";
import { errorText } from "../errors.js";
import { DataItem } from "../protocol/data-item.js";
import type { Cryptor } from "../protocol/ecies.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Env, Meta, VmmResult } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { OutboxEntry, Store } from "../store/types.js";
import { VmGoneError, type VmRegistry, type VmResult } from "../vm/contract.js";
import { REGISTRY_FORMAT } from "../vm/core/registry.js";
import { TOKEN_FORMAT } from "../vm/core/token.js";
import { assignedMeta, isAssignment } from "./assignments.js";
import type { Snapshot } from "./checkpoints.js";
import type { ModuleCatalog } from "./modules.js";
import { outboxEntries } from "./outgoing.js";
import type { ProcessState, ProcessTable } from "./processes.js";
import { respawn, restoreFrom, restoreOrRespawn } from "./revival.js";
import { envWithSecrets, itemMeta, metaWithSecrets, spawnEnv, tagOf } from "./vm-input.js";

/** The most messages one batch call to a VM carries. */
const MAX_BATCH = 64;

/** A message as the scheduler committed it. */
export interface Committed {
  nonce: number;
  item: DataItem;
  /** The assignment's Timestamp (ms). */
  timestamp: number;
}

/** apply: save the result and deliver its messages; rebuild: save only; replay: re-execute only. */
export type ApplyMode = "apply" | "rebuild" | "replay";

export interface RunnerDeps {
  store: Store;
  vms: VmRegistry;
  modules: ModuleCatalog;
  procs: ProcessTable;
  cryptor?: Cryptor;
  clock: () => number;
  log: Logger;
  /** The core processes of this node, filled in as their spawns are tracked. */
  core: { token?: string; registry?: string };
  registryPid: () => string | undefined;
  /** The latest checkpoint's snapshot of a process, or null. */
  latestSnapshot: (pid: string) => Promise<Snapshot | null>;
  /** Called once a result is stored: readers waiting for it are woken. */
  stored: (result: VmmResult) => void;
  /** Signs the node's outgoing items (the outbox entries committed with each result). */
  signer: Signer;
  /** Hands a committed result's outbox entries to delivery. */
  deliver: (entries: OutboxEntry[]) => void;
}

/** How a spawn result's Error starts when the VM could not be made (a restart does not retry it). */
export const SPAWN_FAILED = "spawn failed: ";

/**
 * The third stage: each process's VM and its queue. Applies committed nonces in order through
 * the VM, saves their results and hands them to delivery; brings back a VM whose instance died;
 * restores from checkpoints and catches up on stored messages after a restart.
 */
export class ProcessRunner {
  constructor(private readonly deps: RunnerDeps) {}

  /** Registers a process from its spawn item; its VM is made by `spawn` (or a restore). */
  track(pid: string, item: DataItem, module: Env["Module"]): ProcessState {
    const env = spawnEnv(pid, item, module);
    if (module["Module-Format"] === TOKEN_FORMAT) this.deps.core.token ??= pid;
    if (module["Module-Format"] === REGISTRY_FORMAT) this.deps.core.registry ??= pid;
    const state: ProcessState = {
      pid,
      env,
      chain: Promise.resolve(),
      assigning: Promise.resolve(),
      nonce: 0,
      ready: new Map(),
      draining: false,
      saved: Promise.resolve(),
      received: env["Received-Sequence"],
      spawnEnv: structuredClone(env),
      stopped: false,
      checkpointedNonce: 0,
    };
    this.deps.procs.set(state);
    return state;
  }

  /** Queues work on the process's chain; a failure is logged. */
  queue(state: ProcessState, work: () => Promise<void>): void {
    this.deps.procs.queue(state, work, (err) =>
      this.deps.log.error("process work failed", { pid: state.pid, error: errorText(err) }),
    );
  }

  /** Queues the VM's creation and the spawn result (nonce 0). */
  spawnLater(state: ProcessState, item: DataItem): void {
    this.queue(state, () => this.spawnVm(state, item));
  }

  /**
   * Queues the apply of a committed message (as it was committed, so nothing is read back).
   * Messages committed close together are applied by one piece of work on the chain, in nonce
   * order whatever order their commits resolved in, and sent to the VM as one batch where it can.
   */
  applyLater(state: ProcessState, committed: Committed): void {
    state.ready.set(committed.nonce, committed);
    if (state.draining) return;
    state.draining = true;
    this.queue(state, () => this.drain(state));
  }

  private async drain(state: ProcessState): Promise<void> {
    state.draining = false;
    // A stopped process applies nothing (resume's catch-up does); what a catch-up applied is done.
    if (state.stopped && !state.vm) return;
    for (const n of state.ready.keys()) if (n <= state.env.Nonce) state.ready.delete(n);
    const run: Committed[] = [];
    for (let n = state.env.Nonce + 1; run.length < MAX_BATCH && state.ready.has(n); n++) {
      run.push(state.ready.get(n)!);
      state.ready.delete(n);
    }
    if (run.length > 0) await this.applyRun(state, run, "apply");
    // More came meanwhile: their turn comes after whatever else was queued (a checkpoint).
    if (state.ready.has(state.env.Nonce + 1) && !state.draining) {
      state.draining = true;
      this.queue(state, () => this.drain(state));
    }
  }

  /**
   * Brings back every stored process: from its latest checkpoint when there is one (else a fresh
   * spawn), then re-executes what it had applied since and applies what it had not. `rebuild`
   * ignores checkpoints and re-persists every result (hymx `--mode rebuild`).
   */
  async recover(mode: "normal" | "rebuild"): Promise<number> {
    const pids = await this.deps.store.processes();
    await Promise.all(pids.map((pid) => this.bringBack(pid, mode)));
    return pids.length;
  }

  private async bringBack(pid: string, mode: "normal" | "rebuild"): Promise<void> {
    const spawn = await this.deps.store.messageByNonce(pid, 0);
    if (!spawn) return;
    const item = DataItem.fromJSON(spawn);
    const snap = mode === "normal" ? await this.deps.latestSnapshot(pid) : null;
    const state = this.track(pid, item, await this.deps.modules.get(item.tag("Module") ?? ""));
    state.nonce = await this.deps.store.nonce(pid);
    // A process whose spawn failed stays failed: it is not spawned again on every start.
    const failed = snap ? undefined : (await this.deps.store.result(pid))?.Error;
    if (failed?.startsWith(SPAWN_FAILED)) state.spawnError = failed.slice(SPAWN_FAILED.length);
    else if (snap) this.queue(state, () => restoreOrRespawn(this.deps, state, snap));
    else this.spawnLater(state, item);
    this.queue(state, () => this.catchUp(state, mode));
  }

  /** Applies every stored nonce after the VM's own, re-executing those that already have a result. */
  async catchUp(state: ProcessState, mode: "normal" | "rebuild"): Promise<void> {
    const max = await this.deps.store.nonce(state.pid);
    for (let n = state.env.Nonce + 1; n <= max; n++) {
      const done = await this.storedResultAt(state.pid, n);
      await this.applyNonce(state, n, mode === "rebuild" ? "rebuild" : done ? "replay" : "apply");
    }
  }

  private async storedResultAt(pid: string, nonce: number): Promise<boolean> {
    const msg = await this.deps.store.messageByNonce(pid, nonce);
    return !!msg && !!(await this.deps.store.result(msg.id));
  }

  /** A fresh VM restored from a snapshot; the process's Env becomes the snapshot's (revival.ts). */
  restoreFrom(state: ProcessState, snap: Snapshot): Promise<void> {
    return restoreFrom(this.deps, state, snap);
  }

  /**
   * Brings a process whose instance died back to where it was: from its latest checkpoint (else,
   * or when that cannot be restored, a fresh spawn), re-executing the messages it had applied
   * since. Runs inside the process's chain.
   */
  private async revive(state: ProcessState): Promise<void> {
    const reached = state.env.Nonce;
    await state.vm?.close().catch(() => {});
    state.vm = undefined;
    const snap = await this.deps.latestSnapshot(state.pid);
    if (snap && snap.Env.Nonce <= reached) await restoreOrRespawn(this.deps, state, snap);
    else await respawn(this.deps, state);
    for (let n = state.env.Nonce + 1; n <= reached; n++) await this.applyNonce(state, n, "replay");
  }

  private async spawnVm(state: ProcessState, item: DataItem): Promise<void> {
    const { pid } = state;
    const factory = this.deps.vms.get(state.env.Module["Module-Format"]);
    let error = "";
    try {
      if (!factory)
        throw new ProtocolError("err_module_format_not_mounted", state.env.Module["Module-Format"]);
      state.vm = await factory(envWithSecrets(state.env, this.deps.cryptor));
    } catch (err) {
      error = errorText(err);
      state.spawnError = error;
      this.deps.log.warn("spawn failed", { pid, error });
    }
    // hymx's spawn result: the new process registers itself with the registry (genSpawnResult).
    const registry = this.deps.registryPid();
    const messages =
      !error && registry
        ? [
            {
              Target: registry,
              Sequence: String(++state.env.Sequence),
              Tags: [
                { name: "Action", value: "RegisterProcess" },
                { name: "Pid", value: pid },
                { name: "Acc-Id", value: state.env.Process.Scheduler },
              ],
            },
          ]
        : [];
    // What the VM's own spawn produced (an AO process evaluates its spawn message).
    const own = state.vm?.spawnResult;
    for (const m of own?.Messages ?? [])
      messages.push({ ...m, Tags: m.Tags ?? [], Sequence: String(++state.env.Sequence) });
    const spawns = (own?.Spawns ?? []).map((sp) => ({
      ...sp,
      Sequence: String(++state.env.Sequence),
    }));
    if (await this.deps.store.result(pid)) return;
    const result: VmmResult = {
      Nonce: "0",
      Timestamp: "0",
      "Item-Id": pid,
      "From-Process": pid,
      "Pushed-For": item.tag("Pushed-For") || pid,
      Messages: messages,
      Spawns: spawns,
      Assignments: own?.Assignments ?? [],
      Output: own?.Output ?? null,
      Data: own?.Data ?? "",
      Error: error ? SPAWN_FAILED + error : (own?.Error ?? ""),
    };
    await this.commit(pid, result, true);
  }

  /**
   * Saves a result with what it sends (the durable outbox, signed here), then tells readers and
   * hands the entries to delivery.
   */
  private async commit(pid: string, result: VmmResult, send: boolean): Promise<void> {
    const entries = send ? outboxEntries(pid, result, this.deps.signer) : [];
    await this.deps.store.saveResult(pid, result, entries);
    this.deps.stored(result);
    this.deps.deliver(entries);
  }

  /** Applies the stored message at `nonce` (which must be the VM's next): read back from the store. */
  private async applyNonce(state: ProcessState, nonce: number, mode: ApplyMode): Promise<void> {
    const [msg, asg] = await Promise.all([
      this.deps.store.messageByNonce(state.pid, nonce),
      this.deps.store.assignmentByNonce(state.pid, nonce),
    ]);
    if (!msg || !asg) return;
    const timestamp = Number(tagOf(DataItem.fromJSON(asg).tags, "Timestamp"));
    await this.applyRun(state, [{ nonce, item: DataItem.fromJSON(msg), timestamp }], mode);
  }

  /**
   * Applies consecutive messages through the VM (one batch call where it can, else one by one)
   * and records each result: the Env moves on; unless replaying, the result is saved, and once
   * it is stored, readers and delivery hear of it (not waited for here: the next apply need not
   * wait for the disk, and the store keeps the order).
   */
  private async applyRun(state: ProcessState, run: Committed[], mode: ApplyMode): Promise<void> {
    const metas = run.map((c) => itemMeta(state.pid, c.item, c.nonce, c.timestamp, "Message"));
    const lost = await this.assigned(state.pid, run, metas);
    const outs =
      run.length > 1 && lost.size === 0 ? await this.applyBatch(state, run[0]!.nonce, metas) : null;
    for (let i = 0; i < run.length; i++) {
      const out = lost.has(i)
        ? { Error: `the assigned message ${run[i]!.item.tag("Message")} is not in the store` }
        : (outs?.[i] ?? (await this.applyMeta(state, run[i]!.nonce, metas[i]!)));
      this.record(state, run[i]!, metas[i]!, out, mode);
    }
  }

  /**
   * Puts the assigned message's own Meta in place of each assignment in `run` (assignments.ts);
   * answers the positions whose message the store does not hold (they record an Error).
   */
  private async assigned(pid: string, run: Committed[], metas: Meta[]): Promise<Set<number>> {
    const lost = new Set<number>();
    for (let i = 0; i < run.length; i++) {
      const c = run[i]!;
      if (!isAssignment(c.item, this.deps.signer.address)) continue;
      const meta = await assignedMeta(this.deps.store, pid, c.item, c.nonce, c.timestamp);
      if (meta) metas[i] = meta;
      else lost.add(i);
    }
    return lost;
  }

  private record(
    state: ProcessState,
    c: Committed,
    meta: Meta,
    out: VmResult,
    mode: ApplyMode,
  ): void {
    const { pid } = state;
    state.env.Nonce = c.nonce;
    const messages = (out.Messages ?? []).map((m) => ({
      ...m,
      Sequence: String(++state.env.Sequence),
    }));
    const spawns = (out.Spawns ?? []).map((s) => ({
      ...s,
      Sequence: String(++state.env.Sequence),
    }));
    if (mode === "replay") return;
    const result: VmmResult = {
      Nonce: String(c.nonce),
      Timestamp: String(c.timestamp),
      // The scheduled item's id (an assignment's own, not its message's: a result per schedule entry).
      "Item-Id": c.item.id,
      "From-Process": pid,
      "Pushed-For": meta["Pushed-For"] || meta["Item-Id"],
      Messages: messages,
      Spawns: spawns,
      Assignments: out.Assignments ?? [],
      Output: out.Output ?? null,
      Data: out.Data ?? "",
      ...(out.Cache ? { Cache: out.Cache } : {}),
      Error: out.Error ?? "",
    };
    state.saved = this.deps.procs.work
      .track(this.commit(pid, result, mode === "apply"))
      .catch((err: unknown) =>
        this.deps.log.error("saving a result failed", {
          pid,
          nonce: c.nonce,
          error: errorText(err),
        }),
      );
  }

  /** `from` of a message for the VM: the sending process, else the signer. */
  private call(meta: Meta): { from: string; meta: Meta } {
    return {
      from: meta["From-Process"] || meta["Acc-Id"],
      meta: metaWithSecrets(meta, this.deps.cryptor),
    };
  }

  /** Several messages in one VM call; null when the VM cannot batch (then they go one by one). */
  private async applyBatch(
    state: ProcessState,
    nonce: number,
    metas: Meta[],
  ): Promise<VmResult[] | null> {
    if (!state.vm?.applyBatch || nonce !== state.env.Nonce + 1) return null;
    const calls = metas.map((m) => this.call(m));
    try {
      return await state.vm.applyBatch(calls);
    } catch (err) {
      if (!(err instanceof VmGoneError)) return metas.map(() => ({ Error: errorText(err) }));
      this.deps.log.warn("instance gone, reviving", { pid: state.pid, nonce, why: err.message });
      try {
        await this.revive(state);
        return await state.vm!.applyBatch!(calls);
      } catch (again) {
        return metas.map(() => ({ Error: `could not revive the process: ${errorText(again)}` }));
      }
    }
  }

  /** The VM's answer to a message; errors (and a VM that cannot be revived) become the result's Error. */
  private async applyMeta(state: ProcessState, nonce: number, meta: Meta): Promise<VmResult> {
    if (nonce !== state.env.Nonce + 1) return { Error: "err_invalid_nonce" };
    if (!state.vm)
      return {
        Error: state.spawnError
          ? `process failed to spawn: ${state.spawnError}`
          : "err_process_not_found",
      };
    const { from, meta: given } = this.call(meta);
    try {
      return await state.vm.apply(from, given);
    } catch (err) {
      if (!(err instanceof VmGoneError)) return { Error: errorText(err) };
      this.deps.log.warn("instance gone, reviving", { pid: state.pid, nonce, why: err.message });
      try {
        await this.revive(state);
        return await state.vm!.apply(from, given);
      } catch (again) {
        return { Error: `could not revive the process: ${errorText(again)}` };
      }
    }
  }
}
