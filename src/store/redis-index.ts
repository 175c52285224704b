import { createHash } from "node:crypto";
import type { ChainableCommander, Redis } from "ioredis";
import {
  matchesQuery,
  MAX_SCAN,
  type IndexedItem,
  type ItemPage,
  type ItemQuery,
} from "./item-index.js";

// Keys: gql:seq (counter), gql:item:<id> (hash: seq, doc), and sorted sets of ids scored by seq:
// gql:all, gql:owner:<address>, gql:target:<id>, gql:tag:<sha256(name \0 value)>.
const tagKey = (name: string, value: string) =>
  `gql:tag:${createHash("sha256").update(name).update("\0").update(value).digest("hex").slice(0, 40)}`;

/**
 * Lua that indexes one item (nothing when its id is known), for a script whose ARGV holds
 * `indexArgs(item)` from position `at`: id, doc, then the sorted sets it joins. Leaves its
 * number in `seq` (0 when it was known).
 */
export const indexLua = (at: number) => `
local seq = 0
if redis.call('EXISTS', 'gql:item:' .. ARGV[${at}]) == 0 then
  seq = redis.call('INCR', 'gql:seq')
  redis.call('HSET', 'gql:item:' .. ARGV[${at}], 'seq', seq, 'doc', ARGV[${at + 1}])
  for i = ${at + 2}, #ARGV do redis.call('ZADD', ARGV[i], seq, ARGV[${at}]) end
end
`;

const ADD_SCRIPT = `${indexLua(1)}return seq`;

/** A script's arguments for indexing `item` (see indexLua). */
export function indexArgs(item: IndexedItem): string[] {
  const keys = new Set(["gql:all", `gql:owner:${item.owner}`]);
  if (item.target) keys.add(`gql:target:${item.target}`);
  for (const t of item.tags) keys.add(tagKey(t.name, t.value));
  const doc = JSON.stringify({
    id: item.id,
    owner: item.owner,
    target: item.target,
    timestamp: item.timestamp,
    tags: item.tags,
  });
  return [item.id, doc, ...keys];
}

/** Queues the index write of `item` on a MULTI (so it commits with the item itself). */
export function queueIndex(tx: ChainableCommander, item: IndexedItem): ChainableCommander {
  return tx.eval(ADD_SCRIPT, 0, ...indexArgs(item));
}

/**
 * The gateway index in Redis. A query walks the smallest sorted set among its conditions (owners,
 * recipients, one EQ tag's values; all items when there is none) in seq order, in batches, and
 * checks the other conditions on each candidate's document.
 */
export class RedisItemIndex {
  constructor(private readonly redis: Redis) {}

  async add(items: IndexedItem[]): Promise<void> {
    if (items.length === 0) return;
    const tx = this.redis.multi();
    for (const item of items) queueIndex(tx, item);
    await tx.exec();
  }

  private async docs(ids: string[]): Promise<(IndexedItem & { seq: number })[]> {
    if (ids.length === 0) return [];
    const p = this.redis.pipeline();
    for (const id of ids) p.hmget(`gql:item:${id}`, "seq", "doc");
    const res = (await p.exec()) ?? [];
    const out: (IndexedItem & { seq: number })[] = [];
    for (const [, v] of res) {
      const [seq, doc] = (v ?? []) as [string | null, string | null];
      if (seq && doc) out.push({ ...(JSON.parse(doc) as IndexedItem), seq: Number(seq) });
    }
    return out;
  }

  private async sizeOf(keys: string[]): Promise<number> {
    const p = this.redis.pipeline();
    for (const k of keys) p.zcard(k);
    return ((await p.exec()) ?? []).reduce((n, [, v]) => n + Number(v ?? 0), 0);
  }

  async query(q: ItemQuery): Promise<ItemPage> {
    const desc = q.sort !== "ASC";
    if (q.ids?.length) {
      const found = (await this.docs(q.ids))
        .filter((d) => matchesQuery(d, q))
        .filter((d) => q.after === undefined || (desc ? d.seq < q.after : d.seq > q.after))
        .sort((a, b) => (desc ? b.seq - a.seq : a.seq - b.seq));
      return { items: found.slice(0, q.first), hasNextPage: found.length > q.first };
    }
    const candidates: string[][] = [];
    if (q.owners?.length) candidates.push(q.owners.map((o) => `gql:owner:${o}`));
    if (q.recipients?.length) candidates.push(q.recipients.map((r) => `gql:target:${r}`));
    for (const c of q.tags ?? [])
      if (c.op === "EQ") candidates.push(c.values.map((v) => tagKey(c.name, v)));
    let keys = ["gql:all"];
    let best = Infinity;
    for (const set of candidates) {
      const size = await this.sizeOf(set);
      if (size < best) [best, keys] = [size, set];
    }
    return this.walk(keys, q, desc);
  }

  /** Merges the sorted sets in seq order from the cursor on, keeping candidates that match. */
  private async walk(keys: string[], q: ItemQuery, desc: boolean): Promise<ItemPage> {
    const batch = 256;
    const bound = new Map(keys.map((k) => [k, q.after]));
    const exhausted = new Set<string>();
    const items: (IndexedItem & { seq: number })[] = [];
    let scanned = 0;
    while (items.length <= q.first && exhausted.size < keys.length && scanned < MAX_SCAN) {
      const fetched: { id: string; seq: number }[] = [];
      let frontier: number | undefined;
      for (const k of keys) {
        if (exhausted.has(k)) continue;
        const b = bound.get(k);
        const res = desc
          ? await this.redis.zrevrangebyscore(
              k,
              b === undefined ? "+inf" : `(${b}`,
              "-inf",
              "WITHSCORES",
              "LIMIT",
              0,
              batch,
            )
          : await this.redis.zrangebyscore(
              k,
              b === undefined ? "-inf" : `(${b}`,
              "+inf",
              "WITHSCORES",
              "LIMIT",
              0,
              batch,
            );
        const pairs: { id: string; seq: number }[] = [];
        for (let i = 0; i < res.length; i += 2)
          pairs.push({ id: res[i]!, seq: Number(res[i + 1]) });
        if (pairs.length < batch) exhausted.add(k);
        else {
          // Beyond this key's last fetched seq, other keys' entries may be missing: stop the page there.
          const last = pairs[pairs.length - 1]!.seq;
          frontier =
            frontier === undefined
              ? last
              : desc
                ? Math.max(frontier, last)
                : Math.min(frontier, last);
        }
        fetched.push(...pairs);
      }
      const ordered = [...new Map(fetched.map((f) => [f.id, f])).values()]
        .filter((f) => frontier === undefined || (desc ? f.seq >= frontier : f.seq <= frontier))
        .sort((a, b) => (desc ? b.seq - a.seq : a.seq - b.seq));
      scanned += ordered.length;
      for (const doc of await this.docs(ordered.map((o) => o.id))) {
        if (matchesQuery(doc, q)) items.push(doc);
      }
      items.sort((a, b) => (desc ? b.seq - a.seq : a.seq - b.seq));
      if (frontier === undefined) break;
      for (const k of keys) if (!exhausted.has(k)) bound.set(k, frontier);
    }
    return { items: items.slice(0, q.first), hasNextPage: items.length > q.first };
  }
}
