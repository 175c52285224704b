import { join } from "node:path";
import { Redis } from "ioredis";
import type { IndexedItem, ItemQuery } from "../../src/store/item-index.js";
import { RedisStore } from "../../src/store/redis.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import type { Store } from "../../src/store/types.js";
import type { Scenario } from "../lib/scenario.js";
import { now, summarize } from "../lib/stats.js";

const REDIS_URL = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/10`;

/** Item i: a message of one of 1,000 owners, or every 1,000th a named process. */
function item(i: number): IndexedItem {
  const process = i % 1000 === 0;
  return {
    id: `bench-item-${i}`.padEnd(43, "x"),
    owner: `owner-${i % 1000}`,
    target: process ? "" : `process-${i % 5000}`,
    timestamp: 1_700_000_000_000 + i,
    tags: [
      { name: "Data-Protocol", value: "ao" },
      { name: "Type", value: process ? "Process" : "Message" },
      { name: "Name", value: process ? `name-${i}` : `msg-${i % 7}` },
      { name: "Action", value: "Transfer" },
    ],
  };
}

/** aos's lookup: a process by owner and Name (one match among all the items). */
const lookup = (i: number): ItemQuery => ({
  owners: [`owner-${i % 1000}`, ""],
  tags: [
    { name: "Data-Protocol", values: ["ao"], op: "EQ" },
    { name: "Type", values: ["Process"], op: "EQ" },
    { name: "Name", values: [`name-${i}`], op: "EQ" },
  ],
  first: 10,
  sort: "DESC",
});

async function fill(store: Store, count: number): Promise<number> {
  const t = now();
  for (let i = 0; i < count; i += 5000)
    await store.indexItems(
      Array.from({ length: Math.min(5000, count - i) }, (_, k) => item(i + k)),
    );
  return (now() - t) / 1000;
}

export const graphqlScenario: Scenario = {
  name: "graphql",
  describe:
    "the gateway index: aos's process lookup (owner + Name) among 1,000,000 items (100,000 with --quick), SQLite and Redis",
  async run(ctx, emit) {
    const count = ctx.quick ? 100_000 : 1_000_000;
    const redis = new Redis(REDIS_URL);
    await redis.flushdb();
    redis.disconnect();
    const redisStore = new RedisStore(REDIS_URL);
    await redisStore.connect();
    const stores: [string, Store][] = [
      ["sqlite", new SqliteStore(join(ctx.base, "graphql-bench.db"))],
      ["redis", redisStore],
    ];
    try {
      for (const [name, store] of stores) {
        const seconds = await fill(store, count);
        ctx.log(`  ${name}: indexed ${count} items in ${seconds.toFixed(0)} s`);
        const samples: number[] = [];
        for (let r = 0; r < 50; r++) {
          const i = ((r * 7919) % (count / 1000)) * 1000;
          const t = now();
          const page = await store.queryItems(lookup(i));
          samples.push(now() - t);
          if (page.items.length !== 1 || page.items[0]!.id !== item(i).id)
            throw new Error(`${name}: the lookup of name-${i} found ${page.items.length} items`);
        }
        emit({
          scenario: "graphql",
          metric: `process by owner + Name among ${count.toLocaleString("en")} items, ${name}`,
          unit: "ms",
          better: "lower",
          ours: summarize(samples),
        });
      }
    } finally {
      for (const [, store] of stores) await store.close();
      const r = new Redis(REDIS_URL);
      await r.flushdb();
      r.disconnect();
    }
  },
};
