import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Redis } from "ioredis";
import type { IndexedItem, ItemQuery } from "../../src/store/item-index.js";
import { RedisStore } from "../../src/store/redis.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import type { Store } from "../../src/store/types.js";

const REDIS_URL = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/12`;

const entry = (id: string, owner: string, tags: [string, string][], target = ""): IndexedItem => ({
  id,
  owner,
  target,
  timestamp: 1_700_000_000_000,
  tags: tags.map(([name, value]) => ({ name, value })),
});

// 300 items: every 3rd is a process of alice, every 150th is named "demo"; bob owns the rest.
const items = Array.from({ length: 300 }, (_, i) =>
  entry(
    `item-${String(i).padStart(3, "0")}`,
    i % 3 === 0 ? "alice" : "bob",
    [
      ["Data-Protocol", "ao"],
      ["Type", i % 3 === 0 ? "Process" : "Message"],
      ["Name", i % 150 === 0 ? "demo" : `n${i}`],
    ],
    i % 3 === 0 ? "" : "target-1",
  ),
);

const ids = (page: { items: { id: string }[] }) => page.items.map((i) => i.id);

function indexSuite(name: string, make: () => Promise<Store>) {
  describe(`${name} gateway index`, () => {
    let store: Store;
    after(async () => store?.close());
    const q = (over: Partial<ItemQuery>): ItemQuery => ({ first: 10, sort: "DESC", ...over });

    test("items are found by owner and tags, newest first, and an id is indexed once", async () => {
      store = await make();
      await store.indexItems(items.slice(0, 150));
      await store.indexItems(items.slice(100)); // overlaps: known ids are skipped
      const demo = await store.queryItems(
        q({
          owners: ["alice"],
          tags: [
            { name: "Data-Protocol", values: ["ao"], op: "EQ" },
            { name: "Type", values: ["Process"], op: "EQ" },
            { name: "Name", values: ["demo"], op: "EQ" },
          ],
        }),
      );
      assert.deepEqual(ids(demo), ["item-150", "item-000"]);
      assert.equal(demo.hasNextPage, false);
      const all = await store.queryItems(q({ first: 100 }));
      assert.equal(all.items.length, 100);
      assert.equal(new Set(ids(all)).size, 100);
      assert.equal(all.items[0]!.id, "item-299");
    });

    test("pages follow the cursor in both directions and meet every match exactly once", async () => {
      const query = {
        owners: ["alice"],
        tags: [{ name: "Type", values: ["Process"], op: "EQ" as const }],
      };
      for (const sort of ["ASC", "DESC"] as const) {
        const seen: string[] = [];
        let after: number | undefined;
        for (;;) {
          const page = await store.queryItems(q({ ...query, sort, first: 7, after }));
          seen.push(...ids(page));
          if (!page.hasNextPage) break;
          after = page.items[page.items.length - 1]!.seq;
        }
        const expected = items.filter((_, i) => i % 3 === 0).map((i) => i.id);
        assert.deepEqual(seen, sort === "ASC" ? expected : [...expected].reverse());
      }
    });

    test("ids, recipients, several values and NEQ filter as the gateway does", async () => {
      const byIds = await store.queryItems(q({ ids: ["item-005", "item-006", "missing"] }));
      assert.deepEqual(ids(byIds), ["item-006", "item-005"]);
      const toTarget = await store.queryItems(q({ recipients: ["target-1"], first: 2 }));
      assert.deepEqual(ids(toTarget), ["item-299", "item-298"]);
      const either = await store.queryItems(
        q({ tags: [{ name: "Name", values: ["n1", "n2", "demo"], op: "EQ" }], first: 10 }),
      );
      assert.deepEqual(ids(either), ["item-150", "item-002", "item-001", "item-000"]);
      const notProcess = await store.queryItems(
        q({ owners: ["alice"], tags: [{ name: "Type", values: ["Process"], op: "NEQ" }] }),
      );
      assert.deepEqual(ids(notProcess), []);
      const none = await store.queryItems(q({ owners: ["nobody"] }));
      assert.deepEqual(ids(none), []);
    });
  });
}

indexSuite(
  "sqlite",
  async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), "vmd-gql-")), "node.db")),
);
indexSuite("redis", async () => {
  const redis = new Redis(REDIS_URL);
  await redis.flushdb();
  redis.disconnect();
  const store = new RedisStore(REDIS_URL);
  await store.connect();
  return store;
});
