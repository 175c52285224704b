import { ProtocolError } from "../protocol/errors.js";
import { toB64Url } from "../protocol/base64url.js";
import { DataItem } from "../protocol/data-item.js";
import {
  assignmentTags,
  baseTags,
  DATA_PROTOCOL,
  extractParams,
  paramsFromTags,
  processParamTags,
  VARIANT,
  type Env,
  type Meta,
  type VmmResult,
} from "../protocol/hymx.js";
import { decryptParams, ENCRYPTED_PREFIX, type Cryptor } from "../protocol/ecies.js";
import type { Signer } from "../protocol/signers.js";
import type { Tag } from "../protocol/tags.js";
import type { Store, StoredItem } from "../store/types.js";
import {
  DryRunUnsupportedError,
  VmGoneError,
  type Vm,
  type VmRegistry,
  type VmResult,
} from "../vm/contract.js";
import { REGISTRY_FORMAT, RegistryVm, type NodeRecord } from "../vm/core/registry.js";
import { TOKEN_FORMAT, TokenVm } from "../vm/core/token.js";
import type { ModuleCatalog } from "./modules.js";
import { readCheckpoint, writeCheckpoint, type Snapshot } from "./checkpoints.js";
import { LocalNetwork, type Network } from "./network.js";
import { RemoteOutbox } from "./outbox.js";

export const NODE_VERSION = "v0.5.0";

export interface NodeDeps {
  store: Store;
  signer: Signer;
  vms: VmRegistry;
  modules: ModuleCatalog;
  /** Where checkpoint items are written (`ckp/`). */
  checkpointDir: string;
  /** Decrypts `Encrypted-*` params (nodes with an Ethereum key); its public key goes in /info. */
  cryptor?: Cryptor;
  clock?: () => number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

interface ProcessState {
  env: Env;
  /** The Env as it was at spawn, to start over when there is no checkpoint. */
  spawnEnv: Env;
  vm?: Vm;
  spawnError?: string;
  /** Applies run one after another, in nonce order. */
  chain: Promise<void>;
  /** Nonce assignment is serialised per process. */
  assigning: Promise<unknown>;
  /** Highest sequence seen from each sending process (err_sequence_too_low). */
  received: Record<string, number>;
  /** Stopped by the admin API: checkpointed, VM closed, messages refused until resumed. */
  stopped: boolean;
  checkpointedNonce: number;
}

/** apply: save the result and deliver its messages; rebuild: save only; replay: re-execute only. */
type Mode = "apply" | "rebuild" | "replay";

/** The item belongs to another node: answer 308 with where to go. */
export class RedirectError extends Error {
  constructor(
    readonly location: string,
    readonly body: NodeRecord | NodeRecord[],
  ) {
    super(`served by ${location}`);
  }
}

const tagOf = (tags: Tag[], name: string) => tags.find((t) => t.name === name)?.value ?? "";

/**
 * The node: takes signed items, orders them per process (nonces, node-signed assignments,
 * persisted before the caller hears 200), applies them through each process's VM, and stores the
 * results. Processes apply in parallel; inside a process the order is the nonce order.
 */
export class HymxNode {
  private readonly procs = new Map<string, ProcessState>();
  private readonly spawning = new Set<string>();
  /** The core processes this node runs (found by their Module-Format). */
  readonly core: { token?: string; registry?: string } = {};
  private readonly clock: () => number;
  private readonly log: NonNullable<NodeDeps["log"]>;
  /** Who serves which process: this node's registry, or a joined network's main node. */
  network: Network;
  readonly remoteOutbox: RemoteOutbox;

  constructor(private readonly deps: NodeDeps) {
    this.clock = deps.clock ?? Date.now;
    this.log = deps.log ?? (() => {});
    const core = this.core;
    this.network = new LocalNetwork({
      get token() {
        return core.token;
      },
      get registry() {
        return core.registry;
      },
      registryVm: () => this.registry(),
    });
    this.remoteOutbox = new RemoteOutbox(() => this.network, this.address, this.log);
  }

  registryPid(): string | undefined {
    return this.core.registry ?? this.network.registryPid();
  }

  get address(): string {
    return this.deps.signer.address;
  }

  get store(): Store {
    return this.deps.store;
  }

  token(): TokenVm | undefined {
    const vm = this.core.token ? this.procs.get(this.core.token)?.vm : undefined;
    return vm instanceof TokenVm ? vm : undefined;
  }

  registry(): RegistryVm | undefined {
    const vm = this.core.registry ? this.procs.get(this.core.registry)?.vm : undefined;
    return vm instanceof RegistryVm ? vm : undefined;
  }

  runningProcesses(): string[] {
    return [...this.procs.entries()].filter(([, s]) => !s.stopped).map(([pid]) => pid);
  }

  /**
   * Brings back every stored process: from its latest checkpoint when there is one (else a fresh
   * spawn), then re-executes what it had applied since and applies what it had not. `rebuild`
   * ignores checkpoints and re-persists every result (hymx `--mode rebuild`).
   */
  async recover(mode: "normal" | "rebuild" = "normal"): Promise<void> {
    const pids = await this.deps.store.processes();
    await Promise.all(pids.map((pid) => this.bringBack(pid, mode)));
    this.log("recovered processes", { count: pids.length, mode });
  }

  private async bringBack(pid: string, mode: "normal" | "rebuild"): Promise<void> {
    const spawn = await this.deps.store.messageByNonce(pid, 0);
    if (!spawn) return;
    const item = DataItem.fromJSON(spawn);
    const ckp = mode === "normal" ? await this.deps.store.checkpoint(pid) : null;
    const snap = ckp ? this.snapshot(ckp) : null;
    const state = await this.track(pid, item, !snap);
    if (snap) this.enqueue(state, () => this.restoreFrom(pid, snap));
    this.enqueue(state, () => this.catchUp(pid, mode));
  }

  /** Applies every stored nonce after the VM's own, re-executing those that already have a result. */
  private async catchUp(pid: string, mode: "normal" | "rebuild"): Promise<void> {
    const state = this.procs.get(pid)!;
    const max = await this.deps.store.nonce(pid);
    for (let n = state.env.Nonce + 1; n <= max; n++) {
      const done = await this.storedResultAt(pid, n);
      await this.applyNonce(pid, n, mode === "rebuild" ? "rebuild" : done ? "replay" : "apply");
    }
  }

  private async restoreFrom(pid: string, snap: Snapshot): Promise<void> {
    const state = this.procs.get(pid)!;
    const factory = this.deps.vms.get(snap.Env.Module["Module-Format"]);
    if (!factory)
      throw new ProtocolError("err_module_format_not_mounted", snap.Env.Module["Module-Format"]);
    const vm = await factory(this.withSecrets(snap.Env), { restoring: true });
    await vm.restore(snap.Data);
    state.vm = vm;
    state.env = snap.Env;
    state.received = snap.Env["Received-Sequence"];
    state.checkpointedNonce = snap.Env.Nonce;
  }

  /**
   * AO dry run: evaluate a message against the process's current state without assigning,
   * storing or emitting anything; the VM's state is checkpointed before and restored after.
   */
  dryrun(
    pid: string,
    msg: { Id?: string; Owner?: string; Data?: string; Tags?: Tag[] },
  ): Promise<VmResult> {
    const state = this.procs.get(pid);
    if (!state || state.stopped)
      return Promise.reject(
        new ProtocolError(state ? "err_process_stopped" : "err_process_not_found"),
      );
    const tags = msg.Tags ?? [];
    const data = msg.Data ?? "";
    const meta: Meta = {
      "Item-Id": msg.Id ?? "",
      Pid: pid,
      "Acc-Id": msg.Owner ?? "",
      Action: tagOf(tags, "Action"),
      "From-Process": tagOf(tags, "From-Process"),
      "Pushed-For": tagOf(tags, "Pushed-For"),
      Sequence: Number(tagOf(tags, "Sequence")) || 0,
      Nonce: state.env.Nonce + 1,
      Timestamp: this.clock(),
      Params: paramsFromTags(tags, "Message", data),
      Data: toB64Url(Buffer.from(data, "utf8")),
    };
    return new Promise((resolve, reject) => {
      this.enqueue(state, async () => {
        try {
          if (!state.vm) throw new ProtocolError("err_process_not_found");
          const from = meta["From-Process"] || meta["Acc-Id"];
          if (state.vm.dryrun) {
            try {
              return resolve(await state.vm.dryrun(from, this.metaWithSecrets(meta)));
            } catch (err) {
              if (!(err instanceof DryRunUnsupportedError)) throw err;
            }
          }
          const saved = await state.vm.checkpoint();
          try {
            resolve(await state.vm.apply(from, this.metaWithSecrets(meta)));
          } finally {
            await state.vm.restore(saved);
          }
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** AO `/state`: the VM's current state as its checkpoint string. */
  state(pid: string): Promise<string> {
    const state = this.procs.get(pid);
    if (!state?.vm) return Promise.reject(new ProtocolError("err_process_not_found"));
    return new Promise((resolve, reject) => {
      this.enqueue(state, async () => {
        try {
          resolve(await state.vm!.checkpoint());
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /**
   * Brings a process whose instance died back to where it was: from its latest checkpoint (else a
   * fresh spawn), re-executing the messages it had applied since. Runs inside the process's chain.
   */
  private async revive(pid: string): Promise<void> {
    const state = this.procs.get(pid)!;
    const reached = state.env.Nonce;
    await state.vm?.close().catch(() => {});
    state.vm = undefined;
    const ckp = await this.deps.store.checkpoint(pid);
    const snap = ckp ? this.snapshot(ckp) : null;
    if (snap && snap.Env.Nonce <= reached) await this.restoreFrom(pid, snap);
    else {
      state.env = structuredClone(state.spawnEnv);
      state.received = state.env["Received-Sequence"];
      const factory = this.deps.vms.get(state.env.Module["Module-Format"])!;
      state.vm = await factory(this.withSecrets(state.env));
    }
    for (let n = state.env.Nonce + 1; n <= reached; n++) await this.applyNonce(pid, n, "replay");
  }

  /** A stored checkpoint item's snapshot, decrypted; null when its file is gone. */
  snapshot(checkpointId: string): Snapshot | null {
    return readCheckpoint(this.deps.checkpointDir, checkpointId, this.deps.cryptor);
  }

  /** Checkpoints a running process between two applies; resolves with the checkpoint item id. */
  checkpoint(pid: string): Promise<string | null> {
    const state = this.procs.get(pid);
    if (!state) return Promise.reject(new ProtocolError("err_process_not_found"));
    return new Promise((resolve, reject) => {
      this.enqueue(state, async () => {
        try {
          if (!state.vm) return resolve(null);
          const snap: Snapshot = {
            Env: state.env,
            Data: await state.vm.checkpoint(),
            Outbox: JSON.stringify({ i: pid, t: {} }),
          };
          const id = writeCheckpoint(
            this.deps.checkpointDir,
            this.deps.signer,
            pid,
            snap,
            this.deps.cryptor,
          );
          await this.deps.store.setCheckpoint(pid, id);
          state.checkpointedNonce = state.env.Nonce;
          resolve(id);
        } catch (err) {
          reject(err);
        }
      });
    });
  }

  /** Checkpoints every running process that applied something since its last checkpoint. */
  async checkpointChanged(): Promise<number> {
    const due = [...this.procs.entries()].filter(
      ([, s]) => s.vm && !s.stopped && s.env.Nonce > s.checkpointedNonce,
    );
    await Promise.all(due.map(([pid]) => this.checkpoint(pid)));
    return due.length;
  }

  /** Admin stop: checkpoint, close the VM, refuse messages until resumed. Core processes cannot stop. */
  async stopProcess(pid: string): Promise<void> {
    if (pid === this.core.token || pid === this.core.registry)
      throw new ProtocolError("err_core_process_cannot_stop");
    const state = this.procs.get(pid);
    if (!state) throw new ProtocolError("err_process_not_found");
    if (state.stopped) throw new ProtocolError("err_process_stopped");
    state.stopped = true;
    try {
      await this.checkpoint(pid);
    } catch (err) {
      // Nothing was stopped: the process keeps running and answering.
      state.stopped = false;
      throw err;
    }
    await new Promise<void>((resolve) =>
      this.enqueue(state, async () => {
        await state.vm?.close();
        state.vm = undefined;
        resolve();
      }),
    );
  }

  /** Admin resume: restore from the latest checkpoint and catch up on stored messages. */
  async resumeProcess(pid: string): Promise<void> {
    const state = this.procs.get(pid);
    if (!state) throw new ProtocolError("err_process_not_found");
    if (!state.stopped) throw new ProtocolError("err_process_already_exist");
    const ckp = await this.deps.store.checkpoint(pid);
    const snap = ckp ? this.snapshot(ckp) : null;
    if (!snap) throw new ProtocolError("err_checkpoint_not_found");
    await new Promise<void>((resolve, reject) =>
      this.enqueue(state, async () => {
        try {
          await this.restoreFrom(pid, snap);
          await this.catchUp(pid, "normal");
          state.stopped = false;
          resolve();
        } catch (err) {
          reject(err);
        }
      }),
    );
  }

  private async storedResultAt(pid: string, nonce: number): Promise<boolean> {
    const msg = await this.deps.store.messageByNonce(pid, nonce);
    return !!msg && !!(await this.deps.store.result(msg.id));
  }

  /** Waits until every queued apply of `pid` (or of every process) has run. */
  async idle(pid?: string): Promise<void> {
    const states = pid ? [this.procs.get(pid)] : [...this.procs.values()];
    await Promise.all(states.map((s) => s?.chain));
  }

  /** POST / : verify, check, assign and persist; the apply runs after this resolves. */
  async submit(raw: Uint8Array): Promise<{ id: string }> {
    const item = DataItem.decode(raw);
    if (!item.verify()) throw new ProtocolError("err_invalid_signature");
    const type = item.tag("Type");
    if (type === "Process") return this.submitProcess(item);
    if (type === "Message") return this.submitMessage(item);
    throw new ProtocolError("err_invalid_type", `Type ${JSON.stringify(type ?? "")}`);
  }

  private async submitProcess(item: DataItem): Promise<{ id: string }> {
    extractParams(item, "Process"); // duplicate tags reject the item
    const scheduler = item.tag("Scheduler") ?? "";
    if (scheduler !== this.address) {
      const other = await this.network.node(scheduler).catch(() => undefined);
      if (other?.URL) throw new RedirectError(other.URL, other);
      throw new ProtocolError("err_invalid_scheduler", `this node is ${this.address}`);
    }
    const pid = item.id;
    // The same spawn posted twice at once: only the first gets past here.
    if (this.procs.has(pid) || this.spawning.has(pid))
      throw new ProtocolError("err_process_already_exist");
    this.spawning.add(pid);
    try {
      if ((await this.deps.store.nonce(pid)) >= 0)
        throw new ProtocolError("err_process_already_exist");
      const module = await this.deps.modules.get(item.tag("Module") ?? "");
      if (!this.deps.vms.get(module["Module-Format"])) {
        throw new ProtocolError("err_module_format_not_mounted", module["Module-Format"]);
      }
      await this.deps.store.append(pid, 0, stored(item), this.assignment(pid, item.id, 0, 0));
      const state = await this.track(pid, item, false);
      this.enqueue(state, () => this.spawnVm(pid, item));
      return { id: pid };
    } finally {
      this.spawning.delete(pid);
    }
  }

  private async submitMessage(item: DataItem): Promise<{ id: string }> {
    const pid = item.targetId;
    extractParams(item, "Message");
    const state = this.procs.get(pid);
    if (state?.stopped) throw new ProtocolError("err_process_stopped");
    if (!state) {
      const others = (await this.network.nodesOf(pid).catch(() => [])).filter(
        (n) => n["Acc-Id"] !== this.address && n.URL,
      );
      if (others[0]) throw new RedirectError(others[0].URL, others);
      throw new ProtocolError("err_process_not_found");
    }
    await this.authorizeFromProcess(pid, item);
    const assigned = state.assigning.then(async () => {
      if (await this.deps.store.locate(item.id)) throw new ProtocolError("err_duplicate_item");
      const fromProcess = item.tag("From-Process");
      if (fromProcess) {
        const seq = Number(item.tag("Sequence") ?? "0");
        if (seq <= (state.received[fromProcess] ?? -1))
          throw new ProtocolError("err_sequence_too_low");
        state.received[fromProcess] = seq;
      }
      const nonce = (await this.deps.store.nonce(pid)) + 1;
      await this.deps.store.append(
        pid,
        nonce,
        stored(item),
        this.assignment(pid, item.id, nonce, this.clock()),
      );
      return nonce;
    });
    state.assigning = assigned.catch(() => {});
    const nonce = await assigned;
    this.enqueue(state, () => this.applyNonce(pid, nonce, "apply"));
    return { id: item.id };
  }

  /**
   * A message that claims to come from a process must be signed by a node serving that process
   * (this node, or one the registry names). A RegisterProcess to the registry is checked against
   * the spawn item itself, fetched from the signing node: its Scheduler must be the Acc-Id.
   */
  private async authorizeFromProcess(pid: string, item: DataItem): Promise<void> {
    const from = item.tag("From-Process");
    const signer = item.address;
    if (!from || signer === this.address) return;
    if (pid === this.registryPid() && item.tag("Action") === "RegisterProcess") {
      const spawnId = item.tag("Pid") ?? "";
      const node = await this.network.node(signer).catch(() => undefined);
      const res = node?.URL
        ? await fetch(`${node.URL.replace(/\/+$/, "")}/message/${spawnId}`).catch(() => null)
        : null;
      const json = res?.ok ? await res.json().catch(() => null) : null;
      const spawn = json ? DataItem.fromJSON(json) : null;
      if (
        !spawn ||
        spawn.id !== spawnId ||
        !spawn.verify() ||
        spawn.tag("Scheduler") !== item.tag("Acc-Id") ||
        from !== spawnId
      ) {
        throw new ProtocolError("err_unauthorized_node");
      }
      return;
    }
    const nodes = await this.network.nodesOf(from).catch(() => []);
    if (!nodes.some((n) => n["Acc-Id"] === signer))
      throw new ProtocolError("err_unauthorized_node");
  }

  private assignment(pid: string, msgId: string, nonce: number, timestamp: number): StoredItem {
    const a = DataItem.sign(
      { tags: assignmentTags({ process: pid, message: msgId, nonce, timestamp }) },
      this.deps.signer,
    );
    return stored(a);
  }

  /** Registers a process and builds its Env; the VM is made by spawnVm. */
  private async track(pid: string, item: DataItem, spawnNow = true): Promise<ProcessState> {
    const module = await this.deps.modules.get(item.tag("Module") ?? "");
    const processTags = processParamTags(item);
    const env: Env = {
      Meta: this.meta(pid, item, 0, 0, "Process"),
      Process: {
        "Data-Protocol": DATA_PROTOCOL,
        Variant: VARIANT,
        Type: "Process",
        Module: item.tag("Module") ?? "",
        Scheduler: item.tag("Scheduler") ?? "",
        ...(item.tag("From-Process") ? { "From-Process": item.tag("From-Process") } : {}),
        "Pushed-For": item.tag("Pushed-For") ?? "",
        Tags: processTags,
      },
      Module: module,
      Nonce: 0,
      Sequence: -1,
      "Received-Sequence": {},
    };
    if (module["Module-Format"] === TOKEN_FORMAT) this.core.token ??= pid;
    if (module["Module-Format"] === REGISTRY_FORMAT) this.core.registry ??= pid;
    const state: ProcessState = {
      env,
      chain: Promise.resolve(),
      assigning: Promise.resolve(),
      received: env["Received-Sequence"],
      spawnEnv: structuredClone(env),
      stopped: false,
      checkpointedNonce: 0,
    };
    this.procs.set(pid, state);
    if (spawnNow) this.enqueue(state, () => this.spawnVm(pid, item));
    return state;
  }

  private async spawnVm(pid: string, item: DataItem): Promise<void> {
    const state = this.procs.get(pid)!;
    const factory = this.deps.vms.get(state.env.Module["Module-Format"]);
    let error = "";
    try {
      if (!factory)
        throw new ProtocolError("err_module_format_not_mounted", state.env.Module["Module-Format"]);
      state.vm = await factory(this.withSecrets(state.env));
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      state.spawnError = error;
      this.log("spawn failed", { pid, error });
    }
    // hymx's spawn result: the new process registers itself with the registry (genSpawnResult).
    const registry = this.registryPid();
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
    if (!(await this.deps.store.result(pid))) {
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
      await this.deps.store.saveResult(pid, result);
      this.deliverLater(pid, result);
    }
  }

  /**
   * What a VM is given: each `Encrypted-<K>` param or spawn tag also as `<K>`, decrypted with the
   * node's key (hymx v0.5.0's rule, and for spawns too). Copies only: what is stored and
   * checkpointed keeps the ciphertext.
   */
  private metaWithSecrets(meta: Meta): Meta {
    const cryptor = this.deps.cryptor;
    if (!cryptor) return meta;
    return { ...meta, Params: decryptParams(meta.Params, (c) => cryptor.decrypt(c)) };
  }

  private withSecrets(env: Env): Env {
    const cryptor = this.deps.cryptor;
    const tags = env.Process.Tags ?? [];
    if (!cryptor || !tags.some((t) => t.name.startsWith(ENCRYPTED_PREFIX))) return env;
    const params = Object.fromEntries(tags.map((t) => [t.name, t.value]));
    const plain = decryptParams(params, (c) => cryptor.decrypt(c));
    const added = Object.keys(plain)
      .filter((k) => !Object.hasOwn(params, k))
      .map((k) => ({ name: k, value: plain[k]! }));
    return { ...env, Process: { ...env.Process, Tags: [...tags, ...added] } };
  }

  private meta(
    pid: string,
    item: DataItem,
    nonce: number,
    timestamp: number,
    kind: "Process" | "Message",
  ): Meta {
    const t = item.tags;
    return {
      "Item-Id": item.id,
      Pid: pid,
      "Acc-Id": item.address,
      Action: kind === "Message" ? tagOf(t, "Action") : "",
      "From-Process": tagOf(t, "From-Process"),
      "Pushed-For": tagOf(t, "Pushed-For"),
      Sequence: Number(tagOf(t, "Sequence")) || 0,
      Nonce: nonce,
      Timestamp: timestamp,
      Params: extractParams(item, kind),
      Data: toB64Url(item.data),
    };
  }

  private async applyNonce(pid: string, nonce: number, mode: Mode): Promise<void> {
    const state = this.procs.get(pid)!;
    const [msg, asg] = await Promise.all([
      this.deps.store.messageByNonce(pid, nonce),
      this.deps.store.assignmentByNonce(pid, nonce),
    ]);
    if (!msg || !asg) return;
    const item = DataItem.fromJSON(msg);
    const timestamp = Number(tagOf(DataItem.fromJSON(asg).tags, "Timestamp"));
    const meta = this.meta(pid, item, nonce, timestamp, "Message");
    const from = meta["From-Process"] || meta["Acc-Id"];
    let out: VmResult;
    if (nonce !== state.env.Nonce + 1) out = { Error: "err_invalid_nonce" };
    else if (!state.vm)
      out = {
        Error: state.spawnError
          ? `process failed to spawn: ${state.spawnError}`
          : "err_process_not_found",
      };
    else {
      try {
        out = await state.vm.apply(from, this.metaWithSecrets(meta));
      } catch (err) {
        if (err instanceof VmGoneError) {
          this.log("instance gone, reviving", { pid, nonce, why: err.message });
          try {
            await this.revive(pid);
            out = await state.vm!.apply(from, this.metaWithSecrets(meta));
          } catch (again) {
            out = { Error: `could not revive the process: ${errorText(again)}` };
          }
        } else out = { Error: errorText(err) };
      }
    }
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
    await this.deps.store.saveResult(pid, result);
    if (mode === "apply") this.deliverLater(pid, result);
  }

  private outbox: Promise<void> = Promise.resolve();
  private inFlight = 0;

  /** Queues work on a process's chain (FIFO per process) and counts it until it has run. */
  private enqueue(state: ProcessState, work: () => Promise<void>): void {
    this.inFlight++;
    state.chain = state.chain
      .then(work)
      .catch((err: unknown) =>
        this.log("process work failed", {
          error: err instanceof Error ? err.message : String(err),
        }),
      )
      .finally(() => this.inFlight--);
  }

  /** Delivery runs outside the sender's apply chain (a process may message itself), in emit order. */
  private deliverLater(pid: string, result: VmmResult): void {
    if (!result.Messages?.length) return;
    this.inFlight++;
    this.outbox = this.outbox.then(() => this.deliver(pid, result)).finally(() => this.inFlight--);
  }

  /** Waits until no apply and no local delivery is queued or running (deliveries may queue more). */
  async settled(): Promise<void> {
    while (this.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Outbox: every emitted message is signed by the node; messages to processes on this node are
   * submitted here, the others go to the node the registry names. Messages to 0x addresses (not
   * process ids) are never delivered, as upstream.
   */
  private async deliver(pid: string, result: VmmResult): Promise<void> {
    for (const m of result.Messages ?? []) {
      if (!/^[A-Za-z0-9_-]{43}$/.test(m.Target)) continue;
      const header: Tag[] = [
        { name: "From-Process", value: pid },
        { name: "Sequence", value: String(m.Sequence) },
        { name: "Pushed-For", value: result["Pushed-For"] },
        ...baseTags("Message"),
      ];
      const seen = new Set(header.map((t) => t.name));
      const tags = [
        ...header,
        ...(m.Tags ?? []).filter((t) => !seen.has(t.name) && (seen.add(t.name), true)),
      ];
      const out = DataItem.sign({ target: m.Target, data: m.Data ?? "", tags }, this.deps.signer);
      if (!this.procs.has(m.Target)) {
        this.remoteOutbox.send(pid, out);
        continue;
      }
      await this.submit(out.encode()).catch((err: unknown) =>
        this.log("local delivery failed", { pid, target: m.Target, error: String(err) }),
      );
    }
  }

  info(): Record<string, unknown> {
    return {
      Protocol: DATA_PROTOCOL,
      Variant: VARIANT,
      "Node-Version": NODE_VERSION,
      "Join-Network": !this.core.registry && !!this.network.registryPid(),
      Token: this.core.token ?? this.network.tokenPid() ?? "",
      Registry: this.registryPid() ?? "",
      Node: { "Acc-Id": this.address, Name: "", Role: "", Desc: "", URL: "" },
      "Vm-Count": [...this.procs.values()].filter((p) => p.vm).length,
      ...(this.deps.cryptor ? { "Encryption-Public-Key": this.deps.cryptor.publicKey } : {}),
    };
  }

  /** Shutdown: checkpoint every running process (so the next start replays little), then close the VMs. */
  async close(): Promise<void> {
    await this.settled();
    await this.checkpointChanged().catch((err: unknown) =>
      this.log("checkpoint at shutdown failed", { error: String(err) }),
    );
    await Promise.all([...this.procs.values()].map((p) => p.chain.catch(() => {})));
    await Promise.all([...this.procs.values()].map((p) => p.vm?.close().catch(() => {})));
    this.procs.clear();
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function stored(item: DataItem): StoredItem {
  return item.toJSON();
}
