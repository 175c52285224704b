import type { Logger } from "../log.js";
import { DataItem } from "../protocol/data-item.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Signer } from "../protocol/signers.js";
import type { OutboxEntry, Store } from "../store/types.js";
import type { RemoteOutbox } from "./outbox.js";
import type { WorkCounter } from "./processes.js";

export { outgoingMessage } from "./outgoing.js";

export interface DeliveryDeps {
  store: Store;
  signer: Signer;
  /** Whether a process runs on this node. */
  isLocal: (pid: string) => boolean;
  /** POST / on this node (intake, scheduler), for items to local processes and local spawns. */
  submitLocal: (raw: Uint8Array) => Promise<unknown>;
  remote: RemoteOutbox;
  /** Counts deliveries for `settled()`. */
  work: WorkCounter;
  log: Logger;
}

/** Refusals that mean the item is already where it was going (a redelivery after a crash). */
const ALREADY_THERE = new Set([
  "err_duplicate_item",
  "err_sequence_too_low",
  "err_process_already_exist",
]);
/** Refusals worth another try later (the next start of the node); anything else drops the item. */
const TRY_LATER = new Set(["err_process_stopped"]);

/**
 * The last stage: the durable outbox. A result's messages and spawns are signed and committed with
 * the result (outgoing.ts); this delivers them in commit order, outside the sender's apply chain
 * (a process may message itself), and removes each from the outbox once it arrived. Local
 * targets (and spawns this node schedules) go through this node's own intake; the others to the
 * node the registry names (RemoteOutbox, retried on hymx's schedule). After a crash, `redeliver`
 * sends what is still pending: the very same signed items, which the receiving intake takes
 * once (a second copy is refused as a duplicate and counts as delivered).
 */
export class Delivery {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly deps: DeliveryDeps) {}

  /** Queues committed outbox entries for delivery. */
  later(entries: OutboxEntry[]): void {
    if (entries.length === 0) return;
    this.tail = this.deps.work.track(
      this.tail
        .then(() => this.deliver(entries))
        .catch((err: unknown) => this.deps.log.error("delivery failed", { error: String(err) })),
    );
  }

  /** Queues everything the store's outbox still holds (at start, after a crash). */
  async redeliver(): Promise<number> {
    const pending = await this.deps.store.pendingOutbox();
    this.later(pending);
    return pending.length;
  }

  private async deliver(entries: OutboxEntry[]): Promise<void> {
    for (const e of entries) {
      const item = DataItem.fromJSON(e.item);
      const local =
        e.kind === "spawn" ? e.target === this.deps.signer.address : this.deps.isLocal(e.target);
      if (!local) {
        this.deps.remote.send(e.pid, item, {
          scheduler: e.kind === "spawn" ? e.target : undefined,
          delivered: () => this.done(e),
        });
        continue;
      }
      try {
        await this.deps.submitLocal(item.encode());
        await this.done(e);
      } catch (err) {
        const code = err instanceof ProtocolError ? err.code : "";
        if (ALREADY_THERE.has(code)) await this.done(e);
        else if (!TRY_LATER.has(code)) {
          this.deps.log.warn("local delivery failed; the item is dropped", {
            pid: e.pid,
            target: e.target,
            error: String(err),
          });
          await this.done(e);
        }
      }
    }
  }

  private async done(e: OutboxEntry): Promise<void> {
    await this.deps.store.outboxDone(e.id);
  }
}
