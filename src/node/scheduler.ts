import { DataItem } from "../protocol/data-item.js";
import { ProtocolError } from "../protocol/errors.js";
import { assignmentTags, type Env } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { Store, StoredItem } from "../store/types.js";
import type { VmRegistry } from "../vm/contract.js";
import { refuseDuplicate } from "./dedupe.js";
import type { ModuleCatalog } from "./modules.js";
import type { ProcessState, ProcessTable } from "./processes.js";

export interface SchedulerDeps {
  store: Store;
  signer: Signer;
  modules: ModuleCatalog;
  vms: VmRegistry;
  procs: ProcessTable;
  clock: () => number;
}

/**
 * The second stage of POST /: gives an admitted item its nonce and a node-signed assignment, and
 * commits both before the caller hears 200. Nonces are handed out one at a time per process, so
 * they are gap-free; an item already stored, by id or by signed content, is refused with
 * err_duplicate_item (see dedupe.ts).
 */
export class Scheduler {
  /** Spawns between their first check and their process entry: the same spawn twice at once spawns once. */
  private readonly spawning = new Set<string>();
  /** Ids of messages whose commit is in flight (not yet found by `store.locate`). */
  private readonly committing = new Set<string>();

  constructor(private readonly deps: SchedulerDeps) {}

  /**
   * Commits a spawn at nonce 0, then calls `started` (which registers the process) before another
   * copy of the same spawn can get past the check. Resolves with the spawn's module.
   * Throws err_process_already_exist, err_not_found_mod, err_module_format_not_mounted.
   */
  async commitSpawn(
    item: DataItem,
    started: (module: Env["Module"]) => Promise<void>,
  ): Promise<Env["Module"]> {
    const pid = item.id;
    if (this.deps.procs.has(pid) || this.spawning.has(pid))
      throw new ProtocolError("err_process_already_exist");
    this.spawning.add(pid);
    try {
      if ((await this.deps.store.nonce(pid)) >= 0)
        throw new ProtocolError("err_process_already_exist");
      const content = await refuseDuplicate(this.deps.store, item);
      const module = await this.deps.modules.get(item.tag("Module") ?? "");
      if (!this.deps.vms.get(module["Module-Format"]))
        throw new ProtocolError("err_module_format_not_mounted", module["Module-Format"]);
      const assignment = this.assignment(pid, item.id, 0, 0);
      await this.deps.store.append(pid, 0, item.toJSON(), assignment, content);
      await started(module);
      return module;
    } finally {
      this.spawning.delete(pid);
    }
  }

  /**
   * Commits a message at the process's next nonce; resolves with that nonce and the
   * assignment's timestamp once item and assignment are durable. The checks and the nonce are taken one message at a time per
   * process; the commits are not waited for in between, so messages that arrive together share
   * one commit. Throws err_duplicate_item, err_sequence_too_low, or the store's error (then the
   * process's next nonce is read back from the store).
   */
  async commitMessage(
    state: ProcessState,
    item: DataItem,
  ): Promise<{ nonce: number; timestamp: number }> {
    const { store } = this.deps;
    const id = item.id;
    const assigned = state.assigning.then(async () => {
      if (state.resync) {
        state.nonce = await store.nonce(state.pid);
        state.resync = false;
      }
      if (this.committing.has(id)) throw new ProtocolError("err_duplicate_item");
      const content = await refuseDuplicate(store, item);
      // Another dressing of the same signed content may be on its way to the store right now.
      if (this.committing.has(content)) throw new ProtocolError("err_duplicate_item");
      const fromProcess = item.tag("From-Process");
      if (fromProcess) {
        const seq = Number(item.tag("Sequence") ?? "0");
        if (seq <= (state.received[fromProcess] ?? -1))
          throw new ProtocolError("err_sequence_too_low");
        state.received[fromProcess] = seq;
      }
      const nonce = ++state.nonce;
      this.committing.add(id);
      this.committing.add(content);
      const timestamp = this.deps.clock();
      const assignment = this.assignment(state.pid, id, nonce, timestamp);
      const committed = store.append(state.pid, nonce, item.toJSON(), assignment, content);
      // When a commit fails, the appends after it fail too (the store keeps nonces gap-free),
      // and the next message's checks first read back the nonce the store holds.
      committed.catch(() => (state.resync = true));
      return { nonce, timestamp, committed, content };
    });
    state.assigning = assigned.catch(() => {});
    const { nonce, timestamp, committed, content } = await assigned;
    try {
      await committed;
    } finally {
      this.committing.delete(id);
      this.committing.delete(content);
    }
    return { nonce, timestamp };
  }

  /** hymx's Assignment item for a message at a nonce, signed by this node. */
  private assignment(pid: string, msgId: string, nonce: number, timestamp: number): StoredItem {
    return DataItem.sign(
      { tags: assignmentTags({ process: pid, message: msgId, nonce, timestamp }) },
      this.deps.signer,
    ).toJSON();
  }
}
