import { Redis } from "ioredis";
import { ProtocolError } from "../protocol/errors.js";
import type { VmmResult } from "../protocol/hymx.js";
import { storedContentKey } from "./content-index.js";
import { connectRedis } from "./redis-connect.js";
import {
  assignedAt,
  indexEntry,
  type IndexedItem,
  type ItemPage,
  type ItemQuery,
} from "./item-index.js";
import { indexArgs, indexLua, RedisItemIndex } from "./redis-index.js";
import type { OutboxEntry, ResultsQuery, Store, StoredItem } from "./types.js";

/** Content keys (deep hash → item id): vmdocker's own key beside hymx's schema. */
const CONTENTS = "m:content";
/** Set once every item stored before content keys existed has its key in CONTENTS. */
const CONTENT_INDEXED = "vmd:content-indexed:v1";

// One atomic append, refused whole (nothing written) for a known id, a nonce that is not the
// current one + 1, or a content key another item holds; the item enters the gateway index in the
// same script. KEYS: nonce, msgs, assign, m:index, contents. ARGV: nonce, item, assignment, id,
// "<pid>:<nonce>", content key ("" for none), then the index arguments (indexArgs).
const APPEND = `
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return redis.error_reply('err_duplicate_item') end
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) ~= current + 1 then
  return redis.error_reply('err_nonce_gap: nonce ' .. ARGV[1] .. ' after ' .. current)
end
if ARGV[6] ~= '' and redis.call('HSETNX', KEYS[5], ARGV[6], ARGV[4]) == 0 then
  return redis.error_reply('err_duplicate_item: this signed content is already stored')
end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
redis.call('SET', KEYS[1], ARGV[1])
${indexLua(7)}
return 1`;

// KEYS: m:result, m:results:<pid>, outbox:entries, outbox:order, cache keys...; ARGV: id, result,
// n, n pairs of outbox id and entry, then one value per cache key.
const SAVE_RESULT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  redis.call('HSETNX', KEYS[3], ARGV[4 + 2 * i], ARGV[5 + 2 * i])
  redis.call('RPUSH', KEYS[4], ARGV[4 + 2 * i])
end
for i = 5, #KEYS do redis.call('SET', KEYS[i], ARGV[i + 2 * n - 1]) end
return 1`;

/** Redis with hymx's key schema (spec §2.5), so an upstream node's data is readable and vice versa. */
export class RedisStore implements Store {
  readonly kind = "redis" as const;
  private readonly redis: Redis;
  private readonly index: RedisItemIndex;

  constructor(private readonly url: string) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
    this.index = new RedisItemIndex(this.redis);
  }

  /** Connects once, failing fast with the fix when nothing answers at the URL. */
  async connect(timeoutMs = 5000): Promise<void> {
    await connectRedis(
      this.redis,
      this.url,
      "start it (vmdocker host setup starts one on 127.0.0.1:6379), or fix redisURL",
      timeoutMs,
    );
    await this.indexOldContent();
  }

  /** A store written before content keys existed gets them once, from its stored items. */
  private async indexOldContent(): Promise<void> {
    if (await this.redis.exists(CONTENT_INDEXED)) return;
    for (const pid of await this.processes()) {
      const items = await this.redis.lrange(`p:msgs:${pid}`, 0, -1);
      const tx = this.redis.pipeline();
      for (const raw of items) {
        const item = JSON.parse(raw) as StoredItem;
        const key = storedContentKey(item);
        if (key) tx.hsetnx(CONTENTS, key, item.id);
      }
      await tx.exec();
    }
    await this.redis.set(CONTENT_INDEXED, "1");
  }

  /** The server's `appendfsync` setting, or null when CONFIG is not allowed. */
  async fsyncPolicy(): Promise<string | null> {
    try {
      const res = (await this.redis.config("GET", "appendfsync")) as string[];
      const aof = (await this.redis.config("GET", "appendonly")) as string[];
      return aof[1] === "yes" ? (res[1] ?? null) : "off";
    } catch {
      return null;
    }
  }

  async nonce(pid: string): Promise<number> {
    const v = await this.redis.get(`p:nonce:${pid}`);
    return v === null ? -1 : Number(v);
  }

  /**
   * Appends in one round trip, as a script: refused with err_duplicate_item when the id is
   * indexed already, and with err_nonce_gap unless `nonce` is the current one + 1, so appends
   * sent back to back (pipelined) stay gap-free even when one of them fails.
   */
  async append(
    pid: string,
    nonce: number,
    item: StoredItem,
    assignment: StoredItem,
    contentKey?: string,
  ): Promise<void> {
    await this.redis
      .eval(
        APPEND,
        5,
        `p:nonce:${pid}`,
        `p:msgs:${pid}`,
        `p:assign:${pid}`,
        "m:index",
        CONTENTS,
        String(nonce),
        JSON.stringify(item),
        JSON.stringify(assignment),
        item.id,
        `${pid}:${nonce}`,
        contentKey ?? "",
        ...indexArgs(indexEntry(item, assignedAt(assignment))),
      )
      .catch((err: Error) => {
        if (err.message.startsWith("err_duplicate_item"))
          throw new ProtocolError("err_duplicate_item", err.message.split(": ")[1]);
        throw err;
      });
  }

  async contentOwner(contentKey: string): Promise<string | null> {
    return this.redis.hget(CONTENTS, contentKey);
  }

  async indexItems(items: IndexedItem[]): Promise<void> {
    await this.index.add(items);
  }

  async queryItems(query: ItemQuery): Promise<ItemPage> {
    return this.index.query(query);
  }

  async messageByNonce(pid: string, nonce: number): Promise<StoredItem | null> {
    const v = await this.redis.lindex(`p:msgs:${pid}`, nonce);
    return v ? (JSON.parse(v) as StoredItem) : null;
  }

  async assignmentByNonce(pid: string, nonce: number): Promise<StoredItem | null> {
    const v = await this.redis.lindex(`p:assign:${pid}`, nonce);
    return v ? (JSON.parse(v) as StoredItem) : null;
  }

  async locate(msgId: string): Promise<{ pid: string; nonce: number } | null> {
    const v = await this.redis.hget("m:index", msgId);
    if (!v) return null;
    const at = v.lastIndexOf(":");
    return { pid: v.slice(0, at), nonce: Number(v.slice(at + 1)) };
  }

  /**
   * One round trip, as a script: the result, its cache entries and its outbox entries (ids in
   * commit order in a list, the entries by id) commit together; a result saved again keeps its
   * place in `m:results:<pid>`.
   */
  async saveResult(pid: string, result: VmmResult, outbox: OutboxEntry[] = []): Promise<void> {
    const { Cache: cache, ...stored } = result;
    const entries = Object.entries(cache ?? {});
    await this.redis.eval(
      SAVE_RESULT,
      4 + entries.length,
      "m:result",
      `m:results:${pid}`,
      "outbox:entries",
      "outbox:order",
      ...entries.map(([k]) => `cache:${pid}:${k}`),
      stored["Item-Id"],
      JSON.stringify(stored),
      String(outbox.length),
      ...outbox.flatMap((e) => [e.id, JSON.stringify(e)]),
      ...entries.map(([, v]) => v),
    );
  }

  async pendingOutbox(): Promise<OutboxEntry[]> {
    const ids = await this.redis.lrange("outbox:order", 0, -1);
    if (ids.length === 0) return [];
    const seen = new Set<string>();
    const raw = await this.redis.hmget("outbox:entries", ...ids);
    return raw.flatMap((r, i) => {
      if (r === null || seen.has(ids[i]!)) return [];
      seen.add(ids[i]!);
      return [JSON.parse(r) as OutboxEntry];
    });
  }

  async outboxDone(id: string): Promise<void> {
    await this.redis.multi().hdel("outbox:entries", id).lrem("outbox:order", 0, id).exec();
  }

  async result(msgId: string): Promise<VmmResult | null> {
    const v = await this.redis.hget("m:result", msgId);
    return v ? (JSON.parse(v) as VmmResult) : null;
  }

  async results(pid: string, q: ResultsQuery): Promise<VmmResult[]> {
    const ids = await this.redis.lrange(`m:results:${pid}`, 0, -1);
    if (ids.length === 0) return [];
    const raw = await this.redis.hmget("m:result", ...ids);
    let all = raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as VmmResult);
    const within = (v: number, min?: number, max?: number) =>
      (min === undefined || v >= min) && (max === undefined || v <= max);
    all = all.filter(
      (r) =>
        within(Number(r.Nonce), q.minNonce, q.maxNonce) &&
        within(Number(r.Timestamp), q.minTimestamp, q.maxTimestamp),
    );
    if (q.sort === "DESC") all.reverse();
    return all.slice(0, q.limit);
  }

  async resultCount(pid: string): Promise<number> {
    return this.redis.llen(`m:results:${pid}`);
  }

  async cache(pid: string, key: string): Promise<string> {
    return (await this.redis.get(`cache:${pid}:${key}`)) ?? "";
  }

  async processes(): Promise<string[]> {
    const pids: string[] = [];
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", "p:nonce:*", "COUNT", 1000);
      cursor = next;
      pids.push(...keys.map((k) => k.slice("p:nonce:".length)));
    } while (cursor !== "0");
    return pids.sort();
  }

  async setCheckpoint(pid: string, itemId: string): Promise<void> {
    await this.redis.set(`ckp:index:${pid}`, itemId);
  }

  async checkpoint(pid: string): Promise<string | null> {
    return this.redis.get(`ckp:index:${pid}`);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
