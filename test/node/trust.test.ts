import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes, type JsonWebKey } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { statusOf } from "../../src/error-codes.js";
import { loadConfig } from "../../src/node/config.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { messageTags, moduleTags } from "../../src/protocol/hymx.js";
import { ArweaveSigner, EthereumSigner } from "../../src/protocol/signers.js";
import { VmRegistry, type VmFactory } from "../../src/vm/contract.js";
import {
  getJson,
  messageItem,
  post,
  postDryRun,
  spawnItem,
  waitResult,
} from "../helpers/client.js";
import { CLIENT_KEY, ECHO_FORMAT, echoFactory, writeEchoModule } from "../helpers/echo-vm.js";
import { avroTags, signedWithRawTags } from "../helpers/raw-item.js";
import { redressings, resignedWithOtherNonce } from "../helpers/redress.js";

// Issue 14: a signed message counts once however its signature bytes are dressed, dry-runs have no
// effects, and the read APIs refuse what they do not understand. Against a real node (SQLite, and
// Redis for durability) with the echo VM, the core token and registry.
const NODE_KEY = `0x${"5e".repeat(32)}`;
const nodeSigner = new EthereumSigner(NODE_KEY);
const client = new EthereumSigner(CLIENT_KEY);
const REDIS_URL = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/9`;

/** A VM with an effect outside its own state (what an OpenClaw chat is to its provider) and no dry-run. */
const EFFECTS_FORMAT = "test.effects.v0.0.1";
let effects = 0;
const effectsFactory: VmFactory = async () => ({
  async apply() {
    effects++;
    return { Data: `effect ${effects}` };
  },
  async checkpoint() {
    return "{}";
  },
  async restore() {},
  async close() {},
});

function writeModule(baseDir: string, format: string): string {
  const mod = DataItem.sign({ tags: moduleTags({ moduleFormat: format }) }, client);
  mkdirSync(join(baseDir, "mod"), { recursive: true });
  writeFileSync(join(baseDir, "mod", `mod-${mod.id}.json`), JSON.stringify(mod.toJSON()));
  return mod.id;
}

async function start(baseDir: string, env: Record<string, string> = {}): Promise<RunningNode> {
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, echoFactory);
  vms.mount(EFFECTS_FORMAT, effectsFactory);
  return startNode(
    loadConfig(undefined, {
      VMDOCKER_PORT: ":0",
      VMDOCKER_PRV_KEY: NODE_KEY,
      VMDOCKER_CHECKPOINT_INTERVAL: "0",
      ...env,
    }),
    { baseDir, vms, log: () => {} },
  );
}

const base = mkdtempSync(join(tmpdir(), "vmd-trust-"));
let running: RunningNode;
let url: string;
let echoModule: string;
let effectsModule: string;

before(async () => {
  echoModule = await writeEchoModule(base);
  effectsModule = writeModule(base, EFFECTS_FORMAT);
  running = await start(base);
  url = running.url;
});
after(async () => running?.close());

async function spawn(module = echoModule): Promise<string> {
  const r = await post(url, spawnItem(module, running.node.address));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await waitResult(url, r.body.id!, r.body.id!);
  return r.body.id!;
}

async function resultData(pid: string): Promise<string[]> {
  await running.node.settled();
  const page = await getJson<{ edges: { node: { Data: string } }[] }>(
    `${url}/results/${pid}?limit=100`,
  );
  return page.body.edges.map((e) => e.node.Data);
}

const balance = async (acc: string) =>
  BigInt(await (await fetch(`${url}/balanceOf/${acc}`)).text());

describe("one message, one effect", () => {
  test("an Ethereum-signed message re-dressed every way is refused; the message is applied once", async () => {
    const pid = await spawn();
    const msg = messageItem(pid, "once");
    assert.equal((await post(url, msg)).status, 200);
    for (const { how, bytes } of redressings(msg)) {
      const r = await post(url, bytes);
      assert.deepEqual(
        [r.status, r.body.error],
        [400, "err_invalid_signature"],
        `${how}: ${JSON.stringify(r.body)}`,
      );
    }
    const again = await post(url, resignedWithOtherNonce(msg, CLIENT_KEY));
    assert.deepEqual([again.status, again.body.error], [400, "err_duplicate_item"]);
    const same = await post(url, msg);
    assert.deepEqual([same.status, same.body.error], [400, "err_duplicate_item"]);
    assert.deepEqual(await resultData(pid), ["", "1:once"], "applied exactly once");
    assert.equal((await getJson(`${url}/nonce/${pid}`)).body, 1);
  });

  test("a spawn signed again over the same content starts no second process", async () => {
    const spawnMsg = spawnItem(echoModule, running.node.address);
    assert.equal((await post(url, spawnMsg)).status, 200);
    const twin = await post(url, resignedWithOtherNonce(spawnMsg, CLIENT_KEY));
    assert.deepEqual([twin.status, twin.body.error], [400, "err_duplicate_item"]);
  });

  test("an Arweave-signed message signed again (RSA-PSS is randomised) is refused as a duplicate", async () => {
    const pid = await spawn();
    const jwk = generateKeyPairSync("rsa", {
      modulusLength: 4096,
      publicExponent: 65537,
    }).privateKey.export({ format: "jwk" }) as JsonWebKey;
    const arweave = new ArweaveSigner(jwk);
    const content = { target: pid, data: "rsa", tags: messageTags({ action: "Echo" }) };
    const first = DataItem.sign(content, arweave);
    const second = DataItem.sign(content, arweave);
    assert.notEqual(first.id, second.id, "two different signatures of one content");
    assert.equal((await post(url, first)).status, 200);
    const r = await post(url, second);
    assert.deepEqual([r.status, r.body.error], [400, "err_duplicate_item"]);
    assert.deepEqual(await resultData(pid), ["", "1:rsa"]);
  });

  test("a token Transfer replayed (re-dressed and signed again) moves the balance once", async () => {
    const token = (await getJson<{ Token: string }>(`${url}/info`)).body.Token;
    const recipient = new EthereumSigner(randomBytes(32).toString("hex")).address;
    const had = await balance(nodeSigner.address);
    const transfer = DataItem.sign(
      {
        target: token,
        tags: messageTags({
          action: "Transfer",
          params: [
            { name: "Recipient", value: recipient },
            { name: "Quantity", value: "1000" },
          ],
        }),
      },
      nodeSigner,
    );
    assert.equal((await post(url, transfer)).status, 200);
    for (const { bytes } of redressings(transfer))
      assert.equal((await post(url, bytes)).status, 400);
    assert.equal((await post(url, resignedWithOtherNonce(transfer, NODE_KEY))).status, 400);
    const r = await waitResult(url, token, transfer.id);
    assert.equal(r.Error, "");
    await running.node.settled();
    assert.equal(await balance(recipient), 1000n);
    assert.equal(await balance(nodeSigner.address), had - 1000n);
  });

  test("the node remembers signed content across a restart (SQLite)", async () => {
    const pid = await spawn();
    const msg = messageItem(pid, "before restart");
    assert.equal((await post(url, msg)).status, 200);
    await running.node.settled();
    await running.close();
    running = await start(base);
    url = running.url;
    const r = await post(url, resignedWithOtherNonce(msg, CLIENT_KEY));
    assert.deepEqual([r.status, r.body.error], [400, "err_duplicate_item"]);
    assert.deepEqual(await resultData(pid), ["", "1:before restart"]);
  });

  test("the node remembers signed content across a restart (Redis)", async () => {
    const redis = new Redis(REDIS_URL);
    await redis.flushdb();
    await redis.quit();
    const dir = mkdtempSync(join(tmpdir(), "vmd-trust-redis-"));
    const mod = await writeEchoModule(dir);
    let node = await start(dir, { VMDOCKER_REDIS_URL: REDIS_URL });
    try {
      const spawnMsg = spawnItem(mod, node.node.address);
      assert.equal((await post(node.url, spawnMsg)).status, 200);
      const msg = messageItem(spawnMsg.id, "redis");
      assert.equal((await post(node.url, msg)).status, 200);
      await node.node.settled();
      await node.close();
      node = await start(dir, { VMDOCKER_REDIS_URL: REDIS_URL });
      for (const bytes of [
        resignedWithOtherNonce(msg, CLIENT_KEY),
        resignedWithOtherNonce(spawnMsg, CLIENT_KEY),
      ]) {
        const r = await post(node.url, bytes);
        assert.deepEqual([r.status, r.body.error], [400, "err_duplicate_item"]);
      }
    } finally {
      await node.close();
    }
  });
});

/** A message whose tag section is given as raw bytes, signed over exactly those bytes. */
const itemWithRawTags = (pid: string, tags: [string, Buffer][]) =>
  signedWithRawTags(
    client,
    pid,
    avroTags(tags.map(([n, v]) => [Buffer.from(n), v])),
    tags.length,
    Buffer.from("raw tags"),
  );

test("tag names and values must be valid UTF-8: other bytes are refused with err_invalid_tags; valid text is stored as signed", async () => {
  const pid = await spawn();
  const protocol: [string, Buffer][] = messageTags({ action: "Echo" }).map((t) => [
    t.name,
    Buffer.from(t.value),
  ]);
  for (const bad of [
    Buffer.from([0xff, 0xfe]),
    Buffer.from([0xc0, 0xaf]),
    Buffer.from([0xed, 0xa0, 0x80]),
  ]) {
    const r = await post(url, itemWithRawTags(pid, [...protocol, ["Note", bad]]));
    assert.deepEqual([r.status, r.body.error], [400, "err_invalid_tags"], bad.toString("hex"));
  }
  const text = "h\u00e9llo \u2713 \ufeff\u{1f600}";
  const good = itemWithRawTags(pid, [...protocol, ["Note", Buffer.from(text)]]);
  const r = await post(url, good);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const stored = await getJson<{ tags: { name: string; value: string }[] }>(
    `${url}/message/${r.body.id}`,
  );
  assert.equal(stored.body.tags.find((t) => t.name === "Note")?.value, text);
  assert.equal(DataItem.fromJSON(stored.body).verify(), true, "the stored copy is what was signed");
});

test("a body's Content-Type changes nothing: an item sent as text/plain is taken, garbage as text/plain is a 400", async () => {
  const pid = await spawn();
  const plain = await post(url, Buffer.from("not an item"));
  assert.equal(plain.status, 400);
  for (const type of ["text/plain", "text/plain; charset=utf-8", "application/json", "image/png"]) {
    const item = messageItem(pid, `as ${type}`);
    const ok = await fetch(`${url}/`, {
      method: "POST",
      headers: { "content-type": type },
      body: item.encode(),
    });
    assert.equal(ok.status, 200, `${type}: ${await ok.text()}`);
    const bad = await fetch(`${url}/`, {
      method: "POST",
      headers: { "content-type": type },
      body: "not an item",
    });
    assert.deepEqual(
      [bad.status, ((await bad.json()) as { error: string }).error],
      [400, plain.body.error],
      type,
    );
  }
});

describe("read APIs", () => {
  let pid: string;
  before(async () => {
    pid = await spawn();
    for (let i = 1; i <= 6; i++)
      assert.equal((await post(url, messageItem(pid, `m${i}`))).status, 200);
    await running.node.settled();
  });

  test("malformed from, to, limit and sort are 400 with a code", async () => {
    const cursor = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const cases: [string, string][] = [
      ["from=not-a-cursor", "err_invalid_cursor"],
      ["from=e30", "err_invalid_cursor"],
      [`from=${cursor({ ordinate: "x" })}`, "err_invalid_cursor"],
      [`to=${cursor({ ordinate: -1 })}`, "err_invalid_cursor"],
      [`from=${cursor({ ordinate: 1, sort: "SIDEWAYS" })}`, "err_invalid_cursor"],
      ["limit=abc", "err_invalid_limit"],
      ["limit=0", "err_invalid_limit"],
      ["limit=-3&sort=ASC", "err_invalid_limit"],
      ["limit=5000", "err_invalid_limit"],
      ["limit=1001&sort=ASC", "err_invalid_limit"],
      ["sort=sideways", "err_invalid_sort"],
    ];
    for (const [query, code] of cases) {
      const r = await getJson<{ error?: string }>(`${url}/results/${pid}?${query}`);
      assert.deepEqual([r.status, r.body.error], [400, code], query);
    }
    const over = await getJson<{ message: string; hint: string }>(
      `${url}/results/${pid}?limit=5000`,
    );
    assert.equal(over.body.message, "limit 5000 is not a whole number from 1 to 1000");
    assert.match(over.body.hint, /limit=1000 or less/);
    for (const query of ["limit=1000", "limit=1000&sort=DESC"])
      assert.equal((await getJson(`${url}/results/${pid}?${query}`)).status, 200, query);
    const nonce = await getJson<{ error?: string }>(`${url}/messageByNonce/${pid}/abc`);
    assert.deepEqual([nonce.status, nonce.body.error], [400, "err_invalid_nonce"]);
  });

  for (const sort of ["ASC", "DESC"] as const) {
    test(`paging ${sort} by passing each page's last cursor back as from returns every result exactly once`, async () => {
      const seen: string[] = [];
      let from: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const q = `sort=${sort}&limit=2${from ? `&from=${from}` : ""}`;
        const page = await getJson<{
          pageInfo: { hasNextPage: boolean };
          edges: { cursor: string; node: { Nonce: string } }[];
        }>(`${url}/results/${pid}?${q}`);
        assert.equal(page.status, 200, JSON.stringify(page.body));
        seen.push(...page.body.edges.map((e) => e.node.Nonce));
        const last = page.body.edges.at(-1);
        if (last)
          assert.equal(JSON.parse(Buffer.from(last.cursor, "base64url").toString()).sort, sort);
        if (!page.body.pageInfo.hasNextPage) break;
        from = last!.cursor;
      }
      const all = ["0", "1", "2", "3", "4", "5", "6"];
      assert.deepEqual(seen, sort === "ASC" ? all : all.reverse());
    });
  }

  test("from is exclusive and to inclusive, in the order of the sort", async () => {
    const page = await getJson<{ edges: { cursor: string; node: { Nonce: string } }[] }>(
      `${url}/results/${pid}?sort=ASC&limit=100`,
    );
    const c = page.body.edges.map((e) => e.cursor);
    const nonces = async (q: string) =>
      (
        await getJson<{ edges: { node: { Nonce: string } }[] }>(`${url}/results/${pid}?${q}`)
      ).body.edges.map((e) => e.node.Nonce);
    assert.deepEqual(await nonces(`from=${c[1]}&to=${c[4]}`), ["2", "3", "4"]);
    const desc = (
      await getJson<{ edges: { cursor: string }[] }>(`${url}/results/${pid}?sort=DESC&limit=100`)
    ).body.edges.map((e) => e.cursor);
    // DESC cursors: desc[0] is nonce 6, desc[4] is nonce 2.
    assert.deepEqual(await nonces(`from=${desc[0]}&to=${desc[4]}`), ["5", "4", "3", "2"]);
  });

  test("a result asked for under another process is not found", async () => {
    const other = await spawn();
    const msg = messageItem(pid, "mine");
    assert.equal((await post(url, msg)).status, 200);
    await waitResult(url, pid, msg.id);
    const wrong = await getJson<{ error?: string }>(`${url}/result/${msg.id}?process-id=${other}`);
    assert.deepEqual([wrong.status, wrong.body.error], [404, "err_result_not_found"]);
    const right = await getJson<{ Output: string }>(`${url}/result/${msg.id}?process-id=${pid}`);
    assert.equal(right.status, 200);
    // hymx's own route answers 200 null, as upstream hymx does.
    const hymx = await getJson(`${url}/result/${other}/${msg.id}`);
    assert.deepEqual([hymx.status, hymx.body], [200, null]);
    const unknown = await getJson<{ error?: string }>(
      `${url}/result/${"x".repeat(43)}?process-id=${pid}`,
    );
    assert.deepEqual([unknown.status, unknown.body.error], [404, "err_result_not_found"]);
    assert.equal(statusOf("err_result_not_found"), 404, "the registry says what the route answers");
  });
});

describe("dry-runs", () => {
  const dryRun = (pid: string, body: object) => postDryRun(url, pid, body);

  test("a VM that cannot evaluate without effects is refused, and nothing happens", async () => {
    const pid = await spawn(effectsModule);
    const before = effects;
    const r = await dryRun(pid, { Tags: [{ name: "Action", value: "Chat" }], Data: "hi" });
    assert.deepEqual([r.status, r.body.error], [400, "err_dry_run_unsupported"]);
    assert.equal(effects, before, "no effect ran");
    const state = await getJson<{ error?: string }>(`${url}/state/${pid}`);
    assert.deepEqual([state.status, state.body.error], [400, "err_state_not_public"]);
  });

  test("an unsigned Owner or From-Process in a dry-run unlocks nothing", async () => {
    const info = (await getJson<{ Token: string; Registry: string }>(`${url}/info`)).body;
    const slash = await dryRun(info.Token, {
      Owner: nodeSigner.address,
      Tags: [
        { name: "Action", value: "Slash" },
        { name: "Acc-Id", value: nodeSigner.address },
        { name: "Quantity", value: "1" },
      ],
    });
    assert.equal(slash.status, 200);
    assert.equal(slash.body.Error, "err_unauthorized", "the token owner's Slash needs a signature");
    const read = await dryRun(info.Token, {
      Owner: nodeSigner.address,
      Tags: [{ name: "Action", value: "Balance" }],
    });
    assert.equal(
      read.body.Output,
      String(await balance(nodeSigner.address)),
      "reading as Owner works",
    );
    const register = await dryRun(info.Registry, {
      Owner: nodeSigner.address,
      Tags: [
        { name: "Action", value: "Register" },
        { name: "From-Process", value: info.Token },
        { name: "Acc-Id", value: client.address },
      ],
    });
    assert.match(String(register.body.Error), /^err_unauthorized/);
  });
});
