import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { Redis } from "ioredis";
import { registerGraphql } from "../../src/node/graphql.js";
import type { IndexedItem } from "../../src/store/item-index.js";
import { RedisStore } from "../../src/store/redis.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import type { Store } from "../../src/store/types.js";
import type { Scenario } from "../lib/scenario.js";
import { now, summarize } from "../lib/stats.js";
import { lookups, owner as ownerOf, pad as id, type Lookup } from "./graphql-lookups.js";

const REDIS_URL = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/10`;
const OWNERS = 10_000;
const PUBLISHERS = 50;
const FORMATS = ["wasm32-unknown-emscripten4", "wasm64-unknown-emscripten-draft_2024_02_15"];
const ACTIONS = ["Transfer", "Transfer", "Transfer", "Eval", "Balance", "Info", "Credit-Notice"];

/** A deterministic generator (mulberry32), so every run indexes the same million items. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const base = (type: string) => [
  { name: "Data-Protocol", value: "ao" },
  { name: "Variant", value: "ao.TN.1" },
  { name: "Type", value: type },
];

/**
 * Item i of the corpus: every 1,000th a module (50 publishers, 100 names in 10 versions, two
 * formats), every 50th a process (10,000 owners, a unique Name, one of the modules), the rest
 * messages from those owners to the processes made so far (a few processes get most of them),
 * with aoconnect's tags, an Action and a unique Reference.
 */
export function corpusItem(i: number, rnd: () => number): IndexedItem {
  const ts = 1_700_000_000_000 + i;
  if (i % 1000 === 1)
    return {
      id: id("module", i),
      owner: ownerOf(OWNERS + (i % PUBLISHERS)),
      target: "",
      timestamp: ts,
      tags: [
        ...base("Module"),
        { name: "Module-Format", value: FORMATS[Math.floor(i / 1000) % FORMATS.length]! },
        { name: "Input-Encoding", value: "JSON-1" },
        { name: "Output-Encoding", value: "JSON-1" },
        { name: "Memory-Limit", value: "1-gb" },
        { name: "Compute-Limit", value: "9000000000000" },
        { name: "Name", value: `aos-lua-${Math.floor(i / 1000) % 100}` },
        { name: "Content-Type", value: "application/wasm" },
      ],
    };
  if (i % 50 === 0)
    return {
      id: id("process", i),
      owner: ownerOf(i % OWNERS),
      target: "",
      timestamp: ts,
      tags: [
        ...base("Process"),
        {
          name: "Module",
          value: id("module", 1 + 1000 * Math.floor(rnd() * Math.max(1, i / 1000))),
        },
        { name: "Scheduler", value: ownerOf(OWNERS + PUBLISHERS) },
        { name: "SDK", value: "aoconnect" },
        { name: "Name", value: `proc-${i}` },
        { name: "Authority", value: ownerOf(OWNERS + PUBLISHERS) },
      ],
    };
  const processes = Math.max(1, Math.floor(i / 50));
  const target = 50 * Math.floor(rnd() ** 3 * processes);
  return {
    id: id("message", i),
    owner: ownerOf(Math.floor(rnd() * OWNERS)),
    target: id("process", target),
    timestamp: ts,
    tags: [
      ...base("Message"),
      { name: "Action", value: ACTIONS[Math.floor(rnd() * ACTIONS.length)]! },
      { name: "SDK", value: "aoconnect" },
      { name: "Reference", value: String(i) },
    ],
  };
}

/** Fills a store through its own insert path (indexItems, 5,000 items a commit). */
async function fill(store: Store, count: number, log: (l: string) => void): Promise<number> {
  const rnd = random(16);
  const t = now();
  for (let i = 0; i < count; i += 5000) {
    const batch = Array.from({ length: Math.min(5000, count - i) }, (_, k) =>
      corpusItem(i + k, rnd),
    );
    await store.indexItems(batch);
    if ((i + 5000) % 200_000 === 0) log(`    ${i + 5000} items`);
  }
  return (now() - t) / 1000;
}

async function gateway(store: Store): Promise<FastifyInstance> {
  const app = Fastify();
  registerGraphql(app, { store });
  await app.ready();
  return app;
}

/** One GraphQL request through the node's route (parse, validate, resolve, serialize), no socket. */
async function ask(app: FastifyInstance, l: Lookup, round: number) {
  const { query, variables, check } = l.request(round);
  const res = await app.inject({
    method: "POST",
    url: "/graphql",
    payload: { query, variables },
  });
  const body = res.json() as { data?: unknown; errors?: { message: string }[] };
  if (res.statusCode !== 200 || body.errors)
    throw new Error(`${l.name}: ${res.body.slice(0, 300)}`);
  check(body.data);
}

export const graphqlScenario: Scenario = {
  name: "graphql",
  describe:
    "the gateway's GraphQL over 1,000,000 indexed items in SQLite and 100,000 in Redis (100,000 and 20,000 with --quick): aos's process and module lookups, recipients, sorts, paging with after, NEQ",
  async run(ctx, emit) {
    const count = ctx.quick ? 100_000 : 1_000_000;
    const redisCount = ctx.quick ? 20_000 : 100_000;
    const rounds = ctx.quick ? 10 : 40;
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
        // Redis's insert path takes about 13 minutes for a million items here: it gets fewer.
        const n = name === "redis" ? redisCount : count;
        const seconds = await fill(store, n, ctx.log);
        ctx.log(`  ${name}: indexed ${n.toLocaleString("en")} items in ${seconds.toFixed(0)} s`);
        const app = await gateway(store);
        for (const l of lookups(n)) {
          if (store instanceof SqliteStore) {
            const plan = store.explainItems(l.plan(0));
            ctx.log(`    ${l.name}: ${plan.join("; ")}`);
          }
          const samples: number[] = [];
          for (let r = 0; r < rounds; r++) {
            const t = now();
            await ask(app, l, r);
            samples.push(now() - t);
          }
          emit({
            scenario: "graphql",
            metric: `${l.name}, ${n.toLocaleString("en")} items, ${name}`,
            unit: "ms",
            better: "lower",
            ours: summarize(samples),
          });
        }
        await app.close();
      }
    } finally {
      for (const [, store] of stores) await store.close();
      const r = new Redis(REDIS_URL);
      await r.flushdb();
      r.disconnect();
    }
  },
};
