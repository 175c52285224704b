import type { Logger } from "../log.js";
import type { DataItem } from "../protocol/data-item.js";
import type { NodeRecord } from "../vm/core/registry.js";
import type { Network } from "./network.js";

/** hymx's delivery back-off between attempts, in seconds. */
export const RETRY_SCHEDULE = [0, 0.5, 1, 3, 5, 10, 20, 50, 80];

/** How an item is routed and what to do once it arrived. */
export interface SendOptions {
  /** A spawn: POST it to this scheduler's node (else: to the nodes serving the item's target). */
  scheduler?: string;
  /** Called once the item arrived (a 200, or already there). */
  delivered?: () => Promise<void> | void;
}

interface Queued {
  item: DataItem;
  opts: SendOptions;
}

interface Queue {
  items: Queued[];
  running: boolean;
  wake?: () => void;
}

/**
 * Delivers node-signed messages to processes on other nodes: POSTed as binary to the node(s) the
 * registry names, in order per (sender, target), retried on hymx's schedule. A 200, or
 * err_duplicate_item (already there), is delivered.
 */
export class RemoteOutbox {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly network: () => Network,
    private readonly self: string,
    private readonly log: Logger,
    private readonly schedule: number[] = RETRY_SCHEDULE,
  ) {}

  pending(): number {
    return [...this.queues.values()].reduce((n, q) => n + q.items.length, 0);
  }

  send(from: string, item: DataItem, opts: SendOptions = {}): void {
    const key = `${from}→${opts.scheduler ? `spawn@${opts.scheduler}` : item.targetId}`;
    const q = this.queues.get(key) ?? { items: [], running: false };
    this.queues.set(key, q);
    q.items.push({ item, opts });
    if (!q.running) void this.drain(q);
  }

  /** `/trysend`: retry the (sender, target) queue now instead of waiting for the back-off. */
  trySend(from: string, target: string): void {
    this.queues.get(`${from}→${target}`)?.wake?.();
  }

  private async drain(q: Queue): Promise<void> {
    q.running = true;
    while (q.items.length > 0) {
      const { item, opts } = q.items[0]!;
      let delivered = false;
      for (let attempt = 0; attempt < this.schedule.length && !delivered; attempt++) {
        if (attempt > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.schedule[attempt]! * 1000);
            timer.unref();
            q.wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          q.wake = undefined;
        }
        delivered = await this.attempt(item, opts.scheduler);
      }
      if (!delivered)
        this.log.warn("giving up delivering a message until the node restarts", {
          id: item.id,
          target: item.targetId,
        });
      else
        await Promise.resolve(opts.delivered?.()).catch((err: unknown) =>
          this.log.error("marking a delivered message failed", {
            id: item.id,
            error: String(err),
          }),
        );
      q.items.shift();
    }
    q.running = false;
  }

  private async attempt(item: DataItem, scheduler?: string): Promise<boolean> {
    let nodes: NodeRecord[];
    try {
      const serving = scheduler
        ? [await this.network().node(scheduler)].filter((n): n is NodeRecord => !!n)
        : await this.network().nodesOf(item.targetId);
      nodes = serving.filter((n) => n["Acc-Id"] !== this.self && n.URL);
    } catch {
      return false;
    }
    const body = item.encode();
    const urls = nodes.map((n) => n.URL);
    for (let i = 0; i < urls.length && i < 8; i++) {
      try {
        const res = await fetch(`${urls[i]!.replace(/\/+$/, "")}/`, {
          method: "POST",
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status === 200) return true;
        const answer = (await res.json().catch(() => null)) as
          { error?: string } | NodeRecord | NodeRecord[] | null;
        const refused = (answer as { error?: string })?.error;
        if (
          res.status === 400 &&
          (refused === "err_duplicate_item" ||
            refused === "err_sequence_too_low" ||
            refused === "err_process_already_exist")
        )
          return true;
        if (res.status === 308 && answer)
          for (const n of Array.isArray(answer) ? answer : [answer])
            if ((n as NodeRecord).URL) urls.push((n as NodeRecord).URL);
      } catch {
        // that node is unreachable: try the next one
      }
    }
    return false;
  }
}
