import { silentLogger, type Logger } from "../log.js";
import type { DataItem } from "../protocol/data-item.js";
import type { Cryptor } from "../protocol/ecies.js";
import { DATA_PROTOCOL, VARIANT } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { Store } from "../store/types.js";
import type { VmRegistry, VmResult } from "../vm/contract.js";
import { RegistryVm } from "../vm/core/registry.js";
import { TokenVm } from "../vm/core/token.js";
import { admitAssignment } from "./assignments.js";
import { Checkpoints, type Snapshot } from "./checkpoints.js";
import { Delivery } from "./delivery.js";
import { ProcessReads, type DryRunMessage } from "./dry-run.js";
import { Intake } from "./intake.js";
import type { ModuleCatalog } from "./modules.js";
import { LocalNetwork, type Network } from "./network.js";
import { RemoteOutbox } from "./outbox.js";
import { assignmentContentKey, PROCESS_ID } from "./outgoing.js";
import { ProcessTable } from "./processes.js";
import { ResultFeed } from "./results.js";
import { ProcessRunner } from "./runner.js";
import { Scheduler } from "./scheduler.js";

export { RedirectError } from "./intake.js";

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
  log?: Logger;
}

/**
 * The node: takes signed items, orders them per process (nonces, node-signed assignments,
 * persisted before the caller hears 200), applies them through each process's VM, and stores the
 * results. Processes apply in parallel; inside a process the order is the nonce order.
 *
 * The work is done by its stages, each in its own file: intake (decode, verify, route,
 * authorize) → scheduler (nonce, assignment, commit) → runner (per-process queue, apply, revive)
 * → delivery (sign and send emitted messages); checkpoints beside the runner.
 */
export class HymxNode {
  /** The core processes this node runs (found by their Module-Format). */
  readonly core: { token?: string; registry?: string } = {};
  /** Who serves which process: this node's registry, or a joined network's main node. */
  network: Network;
  readonly remoteOutbox: RemoteOutbox;
  /** Results as they are stored, for readers that wait. */
  readonly results: ResultFeed;
  private readonly procs = new ProcessTable();
  private readonly intake: Intake;
  private readonly scheduler: Scheduler;
  private readonly runner: ProcessRunner;
  private readonly reads: ProcessReads;
  private readonly checkpoints: Checkpoints;
  private readonly delivery: Delivery;
  private readonly log: Logger;

  constructor(private readonly deps: NodeDeps) {
    const clock = deps.clock ?? Date.now;
    const log = (this.log = deps.log ?? silentLogger);
    const { store, signer, procs } = { ...deps, procs: this.procs };
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
    this.remoteOutbox = new RemoteOutbox(() => this.network, this.address, log);
    this.results = new ResultFeed(store);
    const registryPid = () => this.registryPid();
    this.intake = new Intake({
      address: this.address,
      network: () => this.network,
      procs,
      registryPid,
    });
    this.scheduler = new Scheduler({ ...deps, procs, clock });
    this.delivery = new Delivery({
      store,
      signer,
      isLocal: (pid) => procs.has(pid),
      submitLocal: (raw) => this.submit(raw),
      assignLocal: (item) => this.assign(item),
      remote: this.remoteOutbox,
      work: procs.work,
      log,
    });
    this.runner = new ProcessRunner({
      ...deps,
      procs,
      clock,
      log,
      core,
      registryPid,
      latestSnapshot: (pid) => this.checkpoints.latest(pid),
      stored: (result) => this.results.publish(result),
      deliver: (entries) => this.delivery.later(entries),
    });
    this.reads = new ProcessReads({ ...deps, procs, clock });
    this.checkpoints = new Checkpoints({
      store,
      signer,
      procs,
      runner: this.runner,
      dir: deps.checkpointDir,
      ...(deps.cryptor ? { cryptor: deps.cryptor } : {}),
      isCore: (pid) => pid === core.token || pid === core.registry,
    });
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

  /** Pids that run here: neither stopped by the admin API nor failed to spawn. */
  runningProcesses(): string[] {
    return this.procs
      .all()
      .filter((s) => !s.stopped && !(s.spawnError && !s.vm))
      .map((s) => s.pid);
  }

  /** Why `pid`'s spawn failed (it runs nothing and refuses messages), or undefined. */
  spawnError(pid: string): string | undefined {
    const s = this.procs.get(pid);
    return s && !s.vm ? s.spawnError : undefined;
  }

  /**
   * Brings back every stored process: from its latest checkpoint when there is one (else a fresh
   * spawn), then re-executes what it had applied since and applies what it had not. `rebuild`
   * ignores checkpoints and re-persists every result (hymx `--mode rebuild`).
   */
  async recover(mode: "normal" | "rebuild" = "normal"): Promise<void> {
    const count = await this.runner.recover(mode);
    this.log.info("recovered processes", { count, mode });
    // What results sent before a crash and was not delivered yet goes out now (after the
    // catch-ups queued above, so targets on this node are back).
    const pending = await this.delivery.redeliver();
    if (pending) this.log.info("redelivering the outbox", { count: pending });
  }

  /**
   * POST / : intake (decode, verify, route, authorize), then the scheduler commits the item and
   * its assignment; the apply is queued after this resolves. Throws ProtocolError (400) or
   * RedirectError (308).
   */
  async submit(raw: Uint8Array): Promise<{ id: string }> {
    const { item, type, pid } = await this.intake.admit(raw);
    if (type === "Process") {
      await this.scheduler.commitSpawn(item, async (module) => {
        this.runner.spawnLater(this.runner.track(pid, item, module), item);
      });
      return { id: pid };
    }
    const state = this.procs.get(pid)!;
    const { nonce, timestamp } = await this.scheduler.commitMessage(state, item);
    this.runner.applyLater(state, { nonce, item, timestamp });
    return { id: item.id };
  }

  /**
   * An assignment from a process's result (delivery only): checked (assignments.ts), committed at
   * the target's next nonce like a message, then applied. Throws ProtocolError.
   */
  private async assign(item: DataItem): Promise<void> {
    const state = await admitAssignment(this.deps.store, this.procs, item);
    const { nonce, timestamp } = await this.scheduler.commitMessage(state, item);
    this.runner.applyLater(state, { nonce, item, timestamp });
  }

  /**
   * The id of the assignment that put message `msgId` into process `pid`'s schedule (its result
   * is the process's result of that message), or null.
   */
  async assignmentOf(pid: string, msgId: string): Promise<string | null> {
    if (!PROCESS_ID.test(pid)) return null;
    return this.deps.store.contentOwner(assignmentContentKey(pid, msgId, this.deps.signer));
  }

  /**
   * AO dry run: evaluates an unsigned message on the current state, on VMs that can do so without
   * effects (else err_dry_run_unsupported); nothing is assigned, stored or emitted.
   */
  dryrun(pid: string, msg: DryRunMessage): Promise<VmResult> {
    return this.reads.dryrun(pid, msg);
  }

  /** AO `/state`: the VM's state if it is public (else err_state_not_public). */
  state(pid: string): Promise<string> {
    return this.reads.state(pid);
  }

  /** A stored checkpoint item's snapshot, decrypted; null when its file is gone. */
  snapshot(checkpointId: string): Snapshot | null {
    return this.checkpoints.snapshot(checkpointId);
  }

  /** Checkpoints a running process between two applies; resolves with the checkpoint item id. */
  checkpoint(pid: string): Promise<string | null> {
    return this.checkpoints.checkpoint(pid);
  }

  /** Checkpoints every running process that applied something since its last checkpoint. */
  checkpointChanged(): Promise<number> {
    return this.checkpoints.checkpointChanged();
  }

  /** Admin stop: checkpoint, close the VM, refuse messages until resumed. Core processes cannot stop. */
  stopProcess(pid: string): Promise<void> {
    return this.checkpoints.stop(pid);
  }

  /** Admin resume: restore from the latest checkpoint and catch up on stored messages. */
  resumeProcess(pid: string): Promise<void> {
    return this.checkpoints.resume(pid);
  }

  /** Waits until every queued apply of `pid` (or of every process) has run. */
  idle(pid?: string): Promise<void> {
    return this.procs.idle(pid);
  }

  /** Waits until no apply and no local delivery is queued or running (deliveries may queue more). */
  settled(): Promise<void> {
    return this.procs.work.idle();
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
      "Vm-Count": this.procs.all().filter((p) => p.vm).length,
      ...(this.deps.cryptor ? { "Encryption-Public-Key": this.deps.cryptor.publicKey } : {}),
    };
  }

  /** Shutdown: checkpoint every running process (so the next start replays little), then close the VMs. */
  async close(): Promise<void> {
    await this.settled();
    await this.checkpointChanged().catch((err: unknown) =>
      this.log.error("checkpoint at shutdown failed", { error: String(err) }),
    );
    await this.procs.idle();
    await Promise.all(this.procs.all().map((p) => p.vm?.close().catch(() => {})));
    this.procs.clear();
    this.results.close();
  }
}
