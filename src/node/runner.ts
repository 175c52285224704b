import { DataItem } from "../protocol/data-item.js";
import type { Cryptor } from "../protocol/ecies.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Env, Meta, VmmResult } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { OutboxEntry, Store } from "../store/types.js";
import { VmGoneError, type VmRegistry, type VmResult } from "../vm/contract.js";
import { REGISTRY_FORMAT } from "../vm/core/registry.js";
import { TOKEN_FORMAT } from "../vm/core/token.js";
import type { Snapshot } from "./checkpoints.js";
import { outboxEntries } from "./outgoing.js";
import type { ModuleCatalog } from "./modules.js";
import type { ProcessState, ProcessTable } from "./processes.js";
import { dryRunMeta, evaluateDryRun, type DryRunMessage } from "./dry-run.js";
import { envWithSecrets, itemMeta, metaWithSecrets, spawnEnv, tagOf } from "./vm-input.js";

/** apply: save the result and deliver its messages; rebuild: save only; replay: re-execute only. */
export type ApplyMode = "apply" | "rebuild" | "replay";

export interface RunnerDeps {
  store: Store;
  vms: VmRegistry;
  modules: ModuleCatalog;
  procs: ProcessTable;
  cryptor?: Cryptor;
  clock: () => number;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  /** The core processes of this node, filled in as their spawns are tracked. */
  core: { token?: string; registry?: string };
  registryPid: () => string | undefined;
  /** The latest checkpoint's snapshot of a process, or null. */
  latestSnapshot: (pid: string) => Promise<Snapshot | null>;
  /** Signs the node's outgoing items (the outbox entries committed with each result). */
  signer: Signer;
  /** Hands a committed result's outbox entries to delivery. */
  deliver: (entries: OutboxEntry[]) => void;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

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
      this.deps.log("process work failed", { pid: state.pid, error: errorText(err) }),
    );
  }

  /** Queues the VM's creation and the spawn result (nonce 0). */
  spawnLater(state: ProcessState, item: DataItem): void {
    this.queue(state, () => this.spawnVm(state, item));
  }

  /** Queues the apply of a committed nonce. */
  applyLater(state: ProcessState, nonce: number): void {
    this.queue(state, () => this.applyNonce(state, nonce, "apply"));
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
    if (snap) this.queue(state, () => this.restoreFrom(state, snap));
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

  /** A fresh VM restored from a snapshot; the process's Env becomes the snapshot's. */
  async restoreFrom(state: ProcessState, snap: Snapshot): Promise<void> {
    const format = snap.Env.Module["Module-Format"];
    const factory = this.deps.vms.get(format);
    if (!factory) throw new ProtocolError("err_module_format_not_mounted", format);
    const vm = await factory(envWithSecrets(snap.Env, this.deps.cryptor), { restoring: true });
    await vm.restore(snap.Data);
    state.vm = vm;
    state.env = snap.Env;
    state.received = snap.Env["Received-Sequence"];
    state.checkpointedNonce = snap.Env.Nonce;
  }

  /**
   * Brings a process whose instance died back to where it was: from its latest checkpoint (else a
   * fresh spawn), re-executing the messages it had applied since. Runs inside the process's chain.
   */
  private async revive(state: ProcessState): Promise<void> {
    const reached = state.env.Nonce;
    await state.vm?.close().catch(() => {});
    state.vm = undefined;
    const snap = await this.deps.latestSnapshot(state.pid);
    if (snap && snap.Env.Nonce <= reached) await this.restoreFrom(state, snap);
    else {
      state.env = structuredClone(state.spawnEnv);
      state.received = state.env["Received-Sequence"];
      const factory = this.deps.vms.get(state.env.Module["Module-Format"])!;
      state.vm = await factory(envWithSecrets(state.env, this.deps.cryptor));
    }
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
      this.deps.log("spawn failed", { pid, error });
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
      Error: error || (own?.Error ?? ""),
    };
    await this.commit(pid, result, true);
  }

  /** Saves a result with what it sends (the durable outbox), then hands that to delivery. */
  private async commit(pid: string, result: VmmResult, send: boolean): Promise<void> {
    const entries = send ? outboxEntries(pid, result, this.deps.signer) : [];
    await this.deps.store.saveResult(pid, result, entries);
    this.deps.deliver(entries);
  }

  /** Applies the stored message at `nonce` (which must be the VM's next) and, unless replaying, saves its result. */
  private async applyNonce(state: ProcessState, nonce: number, mode: ApplyMode): Promise<void> {
    const { pid } = state;
    // A stopped process applies nothing: resume's catch-up does. A nonce at or below the VM's
    // own was applied by a catch-up that ran first.
    if (mode === "apply" && ((state.stopped && !state.vm) || nonce <= state.env.Nonce)) return;
    const [msg, asg] = await Promise.all([
      this.deps.store.messageByNonce(pid, nonce),
      this.deps.store.assignmentByNonce(pid, nonce),
    ]);
    if (!msg || !asg) return;
    const item = DataItem.fromJSON(msg);
    const timestamp = Number(tagOf(DataItem.fromJSON(asg).tags, "Timestamp"));
    const meta = itemMeta(pid, item, nonce, timestamp, "Message");
    const out = await this.applyMeta(state, nonce, meta);
    state.env.Nonce = nonce;
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
      Nonce: String(nonce),
      Timestamp: String(timestamp),
      "Item-Id": item.id,
      "From-Process": pid,
      "Pushed-For": meta["Pushed-For"] || item.id,
      Messages: messages,
      Spawns: spawns,
      Assignments: out.Assignments ?? [],
      Output: out.Output ?? null,
      Data: out.Data ?? "",
      ...(out.Cache ? { Cache: out.Cache } : {}),
      Error: out.Error ?? "",
    };
    await this.commit(pid, result, mode === "apply");
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
    const from = meta["From-Process"] || meta["Acc-Id"];
    try {
      return await state.vm.apply(from, metaWithSecrets(meta, this.deps.cryptor));
    } catch (err) {
      if (!(err instanceof VmGoneError)) return { Error: errorText(err) };
      this.deps.log("instance gone, reviving", { pid: state.pid, nonce, why: err.message });
      try {
        await this.revive(state);
        return await state.vm!.apply(from, metaWithSecrets(meta, this.deps.cryptor));
      } catch (again) {
        return { Error: `could not revive the process: ${errorText(again)}` };
      }
    }
  }

  /**
   * AO dry run: evaluates an unsigned message on the process's current state, on VMs that can do
   * so without effects (see dry-run.ts); nothing is assigned, stored or emitted.
   */
  dryrun(pid: string, msg: DryRunMessage): Promise<VmResult> {
    const state = this.deps.procs.get(pid);
    if (!state || state.stopped)
      return Promise.reject(
        new ProtocolError(state ? "err_process_stopped" : "err_process_not_found"),
      );
    const meta = dryRunMeta(pid, state.env.Nonce + 1, this.deps.clock(), msg);
    return this.deps.procs.run(state, () => evaluateDryRun(state.vm, meta));
  }

  /** AO `/state`: the VM's state, from VMs whose state is public (`Vm.publicState`). */
  state(pid: string): Promise<string> {
    const state = this.deps.procs.get(pid);
    if (!state?.vm) return Promise.reject(new ProtocolError("err_process_not_found"));
    if (!state.vm.publicState) return Promise.reject(new ProtocolError("err_state_not_public"));
    return this.deps.procs.run(state, async () => {
      if (!state.vm?.publicState) throw new ProtocolError("err_state_not_public");
      return state.vm.publicState();
    });
  }
}
