import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import { DataItem } from "../../src/protocol/data-item.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { contentKeyOf } from "../../src/store/content-index.js";
import type { VmmResult } from "../../src/protocol/hymx.js";
import { RedisStore } from "../../src/store/redis.js";
import { SqliteStore } from "../../src/store/sqlite.js";
import type { Store, StoredItem } from "../../src/store/types.js";

const REDIS_URL = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/13`;

const item = (id: string): StoredItem => ({
  id,
  signatureType: 3,
  signature: id,
  owner: "o",
  target: "",
  anchor: "",
  tags: [],
  data: "",
});
const result = (id: string, nonce: number, cache?: Record<string, string>): VmmResult => ({
  Nonce: String(nonce),
  Timestamp: String(1000 + nonce),
  "Item-Id": id,
  "From-Process": "P",
  "Pushed-For": id,
  Messages: [],
  Spawns: [],
  Assignments: [],
  Output: null,
  Data: `d${nonce}`,
  ...(cache ? { Cache: cache } : {}),
  Error: "",
});

function storeSuite(name: string, make: () => Promise<Store>) {
  describe(`${name} store`, () => {
    let store: Store;
    after(async () => store?.close());

    test("nonces, items and assignments are appended per process and found by id", async () => {
      store = await make();
      assert.equal(await store.nonce("P"), -1);
      await store.append("P", 0, item("P"), item("a0"));
      await store.append("P", 1, item("m1"), item("a1"));
      await store.append("Q", 0, item("Q"), item("b0"));
      assert.equal(await store.nonce("P"), 1);
      assert.equal((await store.messageByNonce("P", 1))?.id, "m1");
      assert.equal((await store.assignmentByNonce("P", 1))?.id, "a1");
      assert.equal(await store.messageByNonce("P", 2), null);
      assert.deepEqual(await store.locate("m1"), { pid: "P", nonce: 1 });
      assert.equal(await store.locate("nope"), null);
      assert.deepEqual(await store.processes(), ["P", "Q"]);
    });

    test("results keep execution order; Cache is stripped from the result and kept per key", async () => {
      await store.saveResult("P", result("P", 0));
      await store.saveResult("P", result("m1", 1, { k: "v1" }));
      await store.saveResult("P", result("m1", 1, { k: "v2" })); // saved again: same place
      assert.equal((await store.result("m1"))?.Data, "d1");
      assert.equal((await store.result("m1"))?.Cache, undefined);
      assert.equal(await store.cache("P", "k"), "v2");
      assert.equal(await store.cache("P", "missing"), "");
      assert.equal(await store.resultCount("P"), 2);
      assert.deepEqual(
        (await store.results("P", { limit: 10, sort: "ASC" })).map((r) => r.Nonce),
        ["0", "1"],
      );
      assert.deepEqual(
        (await store.results("P", { limit: 1, sort: "DESC" })).map((r) => r.Nonce),
        ["1"],
      );
      assert.deepEqual(
        (await store.results("P", { limit: 10, sort: "ASC", minNonce: 1 })).map((r) => r.Nonce),
        ["1"],
      );
      assert.deepEqual(
        (await store.results("P", { limit: 10, sort: "ASC", maxNonce: 0 })).map((r) => r.Nonce),
        ["0"],
      );
    });

    test("content keys: an item whose signed content is known is refused and nothing of it is written", async () => {
      await store.append("C", 0, item("C"), item("c0"), "key-1");
      assert.equal(await store.contentOwner("key-1"), "C");
      assert.equal(await store.contentOwner("key-2"), null);
      await assert.rejects(
        store.append("C", 1, item("c-twin"), item("c1"), "key-1"),
        /err_duplicate_item/,
      );
      assert.equal(await store.nonce("C"), 0);
      assert.equal(await store.locate("c-twin"), null);
      assert.equal(await store.messageByNonce("C", 1), null);
    });

    test("appends and results made back to back keep their order; a gap or a second copy of an id is refused and nothing else", async () => {
      const appends = Array.from({ length: 20 }, (_, i) =>
        store.append("R", i, item(i === 0 ? "R" : `r${i}`), item(`ra${i}`)),
      );
      const gap = store.append("R", 22, item("r22"), item("ra22"));
      const copy = store.append("R", 20, item("r3"), item("ra20"));
      await Promise.all(appends);
      await assert.rejects(gap, /err_nonce_gap/);
      await assert.rejects(copy, /err_duplicate_item/);
      assert.equal(await store.nonce("R"), 19);
      for (let n = 1; n < 20; n++)
        assert.equal((await store.messageByNonce("R", n))?.id, `r${n}`, `nonce ${n} in place`);
      assert.deepEqual(await store.locate("r3"), { pid: "R", nonce: 3 });
      await Promise.all(
        Array.from({ length: 20 }, (_, n) => store.saveResult("R", result(`r${n}`, n))),
      );
      assert.deepEqual(
        (await store.results("R", { limit: 100, sort: "ASC" })).map((r) => r.Nonce),
        Array.from({ length: 20 }, (_, n) => String(n)),
      );
    });

    test("checkpoint index", async () => {
      assert.equal(await store.checkpoint("P"), null);
      await store.setCheckpoint("P", "ckp1");
      assert.equal(await store.checkpoint("P"), "ckp1");
    });
  });
}

storeSuite(
  "sqlite",
  async () => new SqliteStore(join(mkdtempSync(join(tmpdir(), "vmd-sqlite-")), "node.db")),
);
storeSuite("redis", async () => {
  const r = new Redis(REDIS_URL);
  await r.flushdb();
  r.disconnect();
  const store = new RedisStore(REDIS_URL);
  await store.connect();
  return store;
});

test("a Redis store whose server is down fails at once with the fix, not a hang", async () => {
  const store = new RedisStore("redis://127.0.0.1:9/0");
  await assert.rejects(store.connect(2000), /Redis at redis:\/\/127.0.0.1:9\/0 does not answer/);
});

test("the Redis store writes hymx's key schema, readable by an upstream node", async () => {
  const url = REDIS_URL.replace(/\/13$/, "/14");
  const r = new Redis(url);
  await r.flushdb();
  const store = new RedisStore(url);
  await store.connect();
  await store.append("P", 0, item("P"), item("a0"));
  await store.saveResult("P", result("P", 0, { x: "1" }));
  assert.equal(await r.get("p:nonce:P"), "0");
  assert.equal(JSON.parse((await r.lindex("p:msgs:P", 0))!).id, "P");
  assert.equal(JSON.parse((await r.lindex("p:assign:P", 0))!).id, "a0");
  assert.equal(await r.hget("m:index", "P"), "P:0");
  assert.equal(JSON.parse((await r.hget("m:result", "P"))!).Data, "d0");
  assert.deepEqual(await r.lrange("m:results:P", 0, -1), ["P"]);
  assert.equal(await r.get("cache:P:x"), "1");
  await store.close();
  r.disconnect();
});

/** A real signed item as a store holds it, and its content key. */
function signedItem(): { stored: StoredItem; key: string } {
  const it = DataItem.sign({ data: `x${Math.random()}` }, new EthereumSigner("11".repeat(32)));
  return { stored: it.toJSON(), key: contentKeyOf(it) };
}

test("a SQLite store written before content keys existed is indexed once when opened", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "vmd-sqlite-old-")), "node.db");
  const { stored, key } = signedItem();
  const before = new SqliteStore(file);
  await before.append("P", 0, stored, item("a0"));
  await before.close();
  const raw = new Database(file);
  raw.exec("DELETE FROM contents");
  raw.pragma("user_version = 0");
  raw.close();
  const after = new SqliteStore(file);
  assert.equal(await after.contentOwner(key), stored.id);
  await after.close();
});

test("a Redis store written before content keys existed is indexed once when connected", async () => {
  const url = REDIS_URL.replace(/\/13$/, "/15");
  const r = new Redis(url);
  await r.flushdb();
  const { stored, key } = signedItem();
  const before = new RedisStore(url);
  await before.connect();
  await before.append("P", 0, stored, item("a0"));
  await before.close();
  await r.del("m:content", "vmd:content-indexed:v1");
  const after = new RedisStore(url);
  await after.connect();
  assert.equal(await after.contentOwner(key), stored.id);
  await after.close();
  r.disconnect();
});
