import type { VmmResult } from "../protocol/hymx.js";
import type { Store } from "../store/types.js";

/** The longest a reader may wait for a result in one request, in milliseconds. */
export const MAX_RESULT_WAIT_MS = 60_000;

type Waiter = (result: VmmResult | null) => void;

/**
 * Results as they are stored, for readers that wait instead of polling (`GET /result/...?wait=`,
 * AO's `/result/:msg`, `vmdocker result --wait`). A reader subscribes before it reads the store,
 * so a result stored in between is not missed.
 */
export class ResultFeed {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private count = 0;

  /** `maxWaiters`: readers waiting at once, over all messages; more get an answer at once. */
  constructor(
    private readonly store: Store,
    private readonly maxWaiters = 10_000,
  ) {}

  /** Called once a result is durable: wakes whoever waits for it. */
  publish(result: VmmResult): void {
    const waiters = this.waiting.get(result["Item-Id"]);
    if (!waiters) return;
    this.waiting.delete(result["Item-Id"]);
    this.count -= waiters.size;
    for (const wake of waiters) wake(result);
  }

  /**
   * The stored result of `msgId`; when there is none yet and the message is known, waits up to
   * `waitMs` (at most MAX_RESULT_WAIT_MS) for it. Resolves with null when none came in time, the
   * message is unknown, too many readers wait already, or the feed closed.
   */
  async read(msgId: string, waitMs: number): Promise<VmmResult | null> {
    const ms = Math.min(Math.max(0, waitMs), MAX_RESULT_WAIT_MS);
    if (ms === 0 || this.count >= this.maxWaiters) return this.store.result(msgId);
    let wake!: Waiter;
    const published = new Promise<VmmResult | null>((resolve) => (wake = resolve));
    this.subscribe(msgId, wake);
    let timer: NodeJS.Timeout | undefined;
    try {
      const stored = await this.store.result(msgId);
      if (stored) return stored;
      if (!(await this.store.locate(msgId))) return null;
      timer = setTimeout(() => wake(null), ms);
      return await published;
    } finally {
      clearTimeout(timer);
      this.unsubscribe(msgId, wake);
    }
  }

  /** Answers every waiting reader with null (shutdown). */
  close(): void {
    for (const [, waiters] of this.waiting) for (const wake of waiters) wake(null);
    this.waiting.clear();
    this.count = 0;
  }

  private subscribe(msgId: string, wake: Waiter): void {
    const set = this.waiting.get(msgId) ?? new Set();
    this.waiting.set(msgId, set);
    set.add(wake);
    this.count++;
  }

  private unsubscribe(msgId: string, wake: Waiter): void {
    const set = this.waiting.get(msgId);
    if (!set?.delete(wake)) return;
    this.count--;
    if (set.size === 0) this.waiting.delete(msgId);
  }
}
