import type { Logger } from "../log.js";
import { DataItem } from "../protocol/data-item.js";
import { baseTags, type VmmResult } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { Tag } from "../protocol/tags.js";
import type { RemoteOutbox } from "./outbox.js";
import type { WorkCounter } from "./processes.js";

type ResultMessage = NonNullable<VmmResult["Messages"]>[number];

/** A process id (43 base64url characters); messages to anything else (0x addresses) are not delivered. */
const PROCESS_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * A message a process emitted, as the node signs it: protocol tags first (From-Process,
 * Sequence, Pushed-For, Data-Protocol, Variant, Type), then the VM's own tags minus any that
 * would override them. Pure: the same result and signer give the same tags.
 */
export function outgoingMessage(
  pid: string,
  result: VmmResult,
  m: ResultMessage,
  signer: Signer,
): DataItem {
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
  return DataItem.sign({ target: m.Target, data: m.Data ?? "", tags }, signer);
}

export interface DeliveryDeps {
  signer: Signer;
  /** Whether a process runs on this node. */
  isLocal: (pid: string) => boolean;
  /** POST / on this node (intake, scheduler), for messages to local processes. */
  submitLocal: (raw: Uint8Array) => Promise<unknown>;
  remote: RemoteOutbox;
  /** Counts deliveries for `settled()`. */
  work: WorkCounter;
  log: Logger;
}

/**
 * The last stage: messages in a saved result are signed by the node and delivered, in emit
 * order, outside the sender's apply chain (a process may message itself). Local targets go
 * through this node's own intake; the others to the node the registry names (RemoteOutbox).
 * Not durable yet: a crash between saving a result and delivering its messages loses them.
 */
export class Delivery {
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly deps: DeliveryDeps) {}

  /** Queues the messages of a saved result for delivery. */
  later(pid: string, result: VmmResult): void {
    if (!result.Messages?.length) return;
    this.tail = this.deps.work.track(
      this.tail
        .then(() => this.deliver(pid, result))
        .catch((err: unknown) =>
          this.deps.log.error("delivery failed", { pid, error: String(err) }),
        ),
    );
  }

  private async deliver(pid: string, result: VmmResult): Promise<void> {
    for (const m of result.Messages ?? []) {
      if (!PROCESS_ID.test(m.Target)) continue;
      const out = outgoingMessage(pid, result, m, this.deps.signer);
      if (!this.deps.isLocal(m.Target)) {
        this.deps.remote.send(pid, out);
        continue;
      }
      await this.deps.submitLocal(out.encode()).catch((err: unknown) =>
        this.deps.log.warn("local delivery failed", {
          pid,
          target: m.Target,
          error: String(err),
        }),
      );
    }
  }
}
