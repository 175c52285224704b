import type { FastifyInstance } from "fastify";
import type { VmmResult } from "../protocol/hymx.js";
import type { Store, StoredItem } from "../store/types.js";
import { EventLog } from "../sys/sse.js";

/** Events of the node's public stream (`GET /vmd/events`); every field is public data already. */
export type NodeEvent =
  | { type: "process.spawned"; pid: string; id: string; at: number }
  | { type: "process.message"; pid: string; nonce: number; id: string; action: string; at: number }
  | {
      type: "process.result";
      pid: string;
      nonce: number;
      msgId: string;
      error: string;
      at: number;
    }
  | { type: "process.checkpoint"; pid: string; checkpoint: string; at: number }
  | { type: "process.stopped" | "process.resumed"; pid: string; at: number };

const WINDOW_S = 60;

/** Messages of one process per second over the last minute (a ring of 60 one-second counters). */
class Rate {
  private readonly counts = new Array<number>(WINDOW_S).fill(0);
  private second = 0;
  last = 0;

  add(at: number): void {
    this.roll(at);
    this.counts[this.second % WINDOW_S]!++;
    this.last = at;
  }

  private roll(at: number): void {
    const s = Math.floor(at / 1000);
    if (s - this.second >= WINDOW_S) this.counts.fill(0);
    else for (let t = this.second + 1; t <= s; t++) this.counts[t % WINDOW_S] = 0;
    if (s > this.second) this.second = s;
  }

  perMinute(now: number): number {
    this.roll(now);
    return this.counts.reduce((a, b) => a + b, 0);
  }
}

const MAX_TRACKED = 100_000;

/**
 * What the node did lately, for its public event stream and process list: a store wrapper
 * reports appended items, saved results and checkpoints; the admin API reports stops and
 * resumes. Nothing here changes what the node does.
 */
export class NodeActivity {
  readonly events = new EventLog(2000);
  private readonly rates = new Map<string, Rate>();

  constructor(private readonly clock: () => number = Date.now) {}

  private emit(e: NodeEvent): void {
    this.events.push(e.type, e);
  }

  /** Messages per minute of a process over the last minute, and when its last message came (ms, 0: none). */
  rate(pid: string): { perMinute: number; lastAt: number } {
    const r = this.rates.get(pid);
    return r
      ? { perMinute: r.perMinute(this.clock()), lastAt: r.last }
      : { perMinute: 0, lastAt: 0 };
  }

  private count(pid: string, at: number): void {
    let r = this.rates.get(pid);
    if (!r) {
      if (this.rates.size >= MAX_TRACKED) this.rates.delete(this.rates.keys().next().value!);
      r = new Rate();
      this.rates.set(pid, r);
    }
    r.add(at);
  }

  /**
   * The same store, reporting its writes: `append` (a spawn at nonce 0, else a message),
   * `saveResult` and `setCheckpoint`, each after the write resolved. Every other member is the
   * store's own (a Proxy, so members added to {@link Store} later pass through unchanged).
   */
  watch(store: Store): Store {
    const after =
      <A extends unknown[]>(fn: (...a: A) => Promise<void>, report: (...a: A) => void) =>
      async (...a: A) => {
        await fn.apply(store, a);
        try {
          report(...a);
        } catch {
          // reporting never fails a write
        }
      };
    const wrapped: Partial<Store> = {
      append: after(store.append, (pid: string, nonce: number, item: StoredItem) => {
        const at = this.clock();
        if (nonce === 0) return this.emit({ type: "process.spawned", pid, id: item.id, at });
        this.count(pid, at);
        const action = (item.tags ?? []).find((t) => t.name === "Action")?.value ?? "";
        this.emit({ type: "process.message", pid, nonce, id: item.id, action, at });
      }),
      saveResult: after(store.saveResult, (pid: string, r: VmmResult) =>
        this.emit({
          type: "process.result",
          pid,
          nonce: Number(r.Nonce),
          msgId: r["Item-Id"],
          error: String(r.Error ?? "").slice(0, 200),
          at: this.clock(),
        }),
      ),
      setCheckpoint: after(store.setCheckpoint, (pid: string, checkpoint: string) =>
        this.emit({ type: "process.checkpoint", pid, checkpoint, at: this.clock() }),
      ),
    };
    return new Proxy(store, {
      get(target, prop, receiver) {
        if (prop in wrapped) return wrapped[prop as keyof Store];
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  /** Reports the admin API's successful stops and resumes (`POST /admin/vms/stop|resume`). */
  watchAdmin(admin: FastifyInstance): void {
    admin.addHook("onResponse", async (req, reply) => {
      const m = /^\/admin\/vms\/(stop|resume)$/.exec(req.url);
      const pid = (req.body as { pid?: unknown } | undefined)?.pid;
      if (!m || req.method !== "POST" || reply.statusCode !== 200 || typeof pid !== "string")
        return;
      this.emit({
        type: m[1] === "stop" ? "process.stopped" : "process.resumed",
        pid,
        at: this.clock(),
      });
    });
  }
}
