import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildAdmin } from "../../src/node/admin.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { getJson, messageItem, post, spawnItem, waitResult } from "../helpers/client.js";
import { CLIENT_KEY, ECHO_FORMAT, echoFactory, writeEchoModule } from "../helpers/echo-vm.js";
import { HymxClient } from "../../src/client/client.js";
import { hintOf } from "../../src/error-codes.js";
import { filesHolding } from "../helpers/secrets.js";
import { EthereumSigner } from "../../src/protocol/signers.js";

const base = mkdtempSync(join(tmpdir(), "vmd-node-"));
let running: RunningNode;
let url: string;
let moduleId: string;

before(async () => {
  moduleId = await writeEchoModule(base);
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, echoFactory);
  running = await startNode(
    loadConfig(undefined, { VMDOCKER_PORT: ":0", VMDOCKER_MAX_BODY_BYTES: "65536" }),
    { baseDir: base, vms, log: () => {} },
  );
  url = running.url;
});
after(async () => running?.close());

async function spawn(): Promise<string> {
  const r = await post(url, spawnItem(moduleId, running.node.address));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await waitResult(url, r.body.id!, r.body.id!);
  return r.body.id!;
}

test("spawn, message, result: the node answers 200 with the id and serves the result", async () => {
  const pid = await spawn();
  assert.equal((await getJson(`${url}/nonce/${pid}`)).body, 0);
  const msg = messageItem(pid, "hello");
  const r = await post(url, msg);
  assert.deepEqual(r.body, { id: msg.id, message: "" });
  const res = await waitResult<{
    Data: string;
    Nonce: string;
    "Item-Id": string;
    Error: string;
    "From-Process": string;
  }>(url, pid, msg.id);
  assert.equal(res.Data, "1:hello");
  assert.equal(res.Nonce, "1");
  assert.equal(res["From-Process"], pid);
  assert.equal(res.Error, "");
  assert.equal((await getJson(`${url}/cache/${pid}/count`)).body, "1");
  assert.equal((await getJson(`${url}/nonce/unknown`)).body, -1);
  assert.equal((await getJson<{ id: string }>(`${url}/message/${msg.id}`)).body.id, msg.id);
  const asg = (
    await getJson<{ tags: { name: string; value: string }[]; owner: string }>(
      `${url}/assignmentByMessage/${msg.id}`,
    )
  ).body;
  assert.deepEqual(
    asg.tags
      .filter((t) => ["Type", "Process", "Message", "Nonce"].includes(t.name))
      .map((t) => t.value),
    ["Assignment", pid, msg.id, "1"],
  );
  assert.equal((await getJson(`${url}/messageByNonce/${pid}/9`)).status, 404);
  const results = (
    await getJson<{ edges: { cursor: string; node: { Nonce: string } }[] }>(`${url}/results/${pid}`)
  ).body;
  assert.deepEqual(
    results.edges.map((e) => e.node.Nonce),
    ["0", "1"],
  );
  assert.equal(
    JSON.parse(Buffer.from(results.edges[1]!.cursor, "base64url").toString()).ordinate,
    "1",
  );
  assert.deepEqual((await getJson<string[]>(`${url}/modules`)).body.sort(), [
    "hymx.core.registry.0.0.0",
    "hymx.core.token.0.0.0",
    ECHO_FORMAT,
  ]);
  assert.equal(
    (await getJson<{ "Module-Format": string }>(`${url}/module/${moduleId}`)).body["Module-Format"],
    ECHO_FORMAT,
  );
  const info = (await getJson<{ Protocol: string; Node: { "Acc-Id": string } }>(`${url}/info`))
    .body;
  assert.equal(info.Protocol, "hymx");
  assert.equal(info.Node["Acc-Id"], running.node.address);
});

test("1,000 messages to 10 processes sent at once: all get results, nonces are gap-free, results follow nonce order", async () => {
  const pids = await Promise.all(Array.from({ length: 10 }, () => spawn()));
  const items = pids.flatMap((pid) =>
    Array.from({ length: 100 }, (_, i) => ({ pid, item: messageItem(pid, `m${i}`) })),
  );
  const answers = await Promise.all(items.map(({ item }) => post(url, item)));
  assert.ok(
    answers.every((a) => a.status === 200),
    "every submit is accepted",
  );
  await running.node.idle();
  for (const pid of pids) {
    assert.equal((await getJson(`${url}/nonce/${pid}`)).body, 100);
    const all = await running.store.results(pid, { limit: 1000, sort: "ASC" });
    assert.equal(all.length, 101);
    for (let n = 1; n <= 100; n++) {
      const r = all[n]!;
      assert.equal(r.Nonce, String(n), "results are stored in nonce order");
      assert.ok(
        r.Data.startsWith(`${n}:`),
        `the VM applied nonce ${n} as its ${n}th message (got ${r.Data})`,
      );
      assert.ok(await running.store.assignmentByNonce(pid, n), `nonce ${n} has an assignment`);
    }
  }
});

test("bad input gets upstream error codes and the node keeps serving", async () => {
  const pid = await spawn();
  const good = messageItem(pid, "x");
  const tampered = Buffer.from(good.encode());
  tampered.writeUInt8(tampered.at(-1)! ^ 1, tampered.length - 1);
  const dupTags = messageItem(pid, "x", "Echo", [{ name: "Action", value: "Again" }]);
  const cases: [string, Uint8Array, number, string][] = [
    ["truncated item", Buffer.from([3, 0, 1, 2, 3]), 400, "err_invalid_item"],
    ["garbage", Buffer.from("not an item at all"), 400, "err_unrecognized_signature_type"],
    ["bad signature", tampered, 400, "err_invalid_signature"],
    ["duplicate tags", dupTags.encode(), 400, "duplicate tag: Action"],
    ["unknown process", messageItem("A".repeat(43), "x").encode(), 400, "err_process_not_found"],
    ["oversize body", Buffer.alloc(70_000, 1), 413, "err_body_too_large"],
  ];
  for (const [name, body, status, code] of cases) {
    const r = await post(url, body);
    assert.equal(r.status, status, name);
    assert.ok(r.body.error?.startsWith(code), `${name}: ${r.body.error}`);
  }
  const big = await post(url, Buffer.alloc(70_000, 1));
  assert.deepEqual(big.body, {
    error: "err_body_too_large",
    message: "the body is larger than 65536 bytes",
    hint: hintOf("err_body_too_large"),
  });
  assert.equal((await post(url, good)).status, 200);
  assert.equal((await post(url, good)).body.error, "err_duplicate_item");
  const again = await post(url, spawnItem(moduleId, running.node.address));
  assert.equal(again.status, 200);
  const twice = spawnItem(moduleId, running.node.address);
  const both = await Promise.all([post(url, twice), post(url, twice)]);
  assert.deepEqual(
    both.map((r) => r.status).sort(),
    [200, 400],
    "the same spawn posted twice at once spawns once",
  );
  assert.ok(both.some((r) => r.body.error === "err_process_already_exist"));
  const wrongScheduler = await post(
    url,
    spawnItem(moduleId, "0x0000000000000000000000000000000000000001"),
  );
  assert.equal(wrongScheduler.body.error, "err_invalid_scheduler");
  const noModule = await post(url, spawnItem("B".repeat(43), running.node.address));
  assert.equal(noModule.body.error, "err_not_found_mod");
  const failed = messageItem(pid, "x", "Fail");
  await post(url, failed);
  assert.equal((await waitResult(url, pid, failed.id)).Error, "asked to fail");
  assert.equal((await getJson(`${url}/info`)).status, 200);
});

test("unknown routes and requests that are not JSON answer the node's error format with an err_* code and a hint", async () => {
  for (const path of ["/x", "/nope/deeper"]) {
    const r = await getJson<Record<string, string>>(`${url}${path}`);
    assert.equal(r.status, 404, path);
    assert.deepEqual(r.body, {
      error: "err_not_found",
      message: `no route GET ${path}`,
      hint: r.body.hint,
    });
    assert.match(r.body.hint ?? "", /README/);
  }
  const trysend = await fetch(`${url}/trysend`, { method: "POST", body: "{nope" });
  assert.equal(trysend.status, 400);
  assert.equal(((await trysend.json()) as { error: string }).error, "err_invalid_params");
});

test("every error body of the node and its admin API has error, message and hint", async () => {
  const shaped = (body: unknown, what: string) => {
    const b = body as Record<string, unknown>;
    assert.deepEqual(Object.keys(b).sort(), ["error", "hint", "message"], what);
    for (const k of ["error", "message", "hint"])
      assert.ok(typeof b[k] === "string" && b[k] !== "", `${what}: ${k} is text`);
    return b as { error: string; message: string; hint: string };
  };
  const empty = await fetch(`${url}/`, { method: "POST" });
  assert.equal(empty.status, 400);
  assert.equal(shaped(await empty.json(), "POST / without a body").message, "invalid item");
  const badPage = await fetch(`${url}/vmd/processes?limit=0`);
  assert.equal(badPage.status, 400);
  assert.match(shaped(await badPage.json(), "/vmd/processes?limit=0").message, /^limit: /);

  const admin = buildAdmin(running.node, "secret-token");
  try {
    const call = (body: string, token = "secret-token") =>
      admin.inject({
        method: "POST",
        url: "/admin/vms/stop",
        headers: { authorization: `Bearer ${token}` },
        payload: body,
      });
    const noToken = await call("{}", "wrong");
    assert.equal(noToken.statusCode, 401);
    assert.deepEqual(shaped(noToken.json(), "admin 401"), {
      error: "err_unauthorized",
      message: "admin token required",
      hint: hintOf("err_unauthorized"),
    });
    const notJson = await call("{pid");
    assert.equal(notJson.statusCode, 400);
    const b = shaped(notJson.json(), "admin bad JSON");
    assert.equal(b.error, "err_invalid_params");
    assert.match(b.message, /^the body is not JSON/);
    assert.match(b.hint, /\{"pid":"<process id>"\}/);
    const noPid = await call("{}");
    assert.equal(noPid.statusCode, 400);
    assert.equal(shaped(noPid.json(), "admin without pid").message, "the body has no pid");
    const unknown = await call(JSON.stringify({ pid: "nope" }));
    assert.equal(shaped(unknown.json(), "admin unknown pid").error, "err_process_not_found");
  } finally {
    await admin.close();
  }
});

test("messages a process emits to a process on this node are signed by the node and delivered, protocol tags first", async () => {
  const a = await spawn();
  const b = await spawn();
  const fwd = messageItem(a, "ping", "Forward", [{ name: "To", value: b }]);
  await post(url, fwd);
  const res = await waitResult<{ Messages: { Target: string; Sequence: string }[] }>(
    url,
    a,
    fwd.id,
  );
  // Sequence 0 went to the spawn result's RegisterProcess message.
  assert.deepEqual(
    res.Messages.map((m) => [m.Target, m.Sequence]),
    [[b, "1"]],
  );
  await running.node.settled();
  const delivered = await running.store.messageByNonce(b, 1);
  assert.ok(delivered);
  const tag = (n: string) => delivered.tags!.find((t) => t.name === n)?.value;
  assert.equal(tag("From-Process"), a);
  assert.equal(tag("Sequence"), "1");
  assert.equal(tag("Data-Protocol"), "hymx", "a VM cannot override protocol tags");
  assert.equal((await running.store.result(delivered.id))?.Data, "1:1:ping");
});

test("a process revived by a fresh spawn goes on numbering its outgoing messages after the ones it sent (spawn result included), so receivers take them", async () => {
  const a = await spawn();
  const b = await spawn();
  const forward = async (data: string) => {
    const fwd = messageItem(a, data, "Forward", [{ name: "To", value: b }]);
    await post(url, fwd);
    return waitResult<{ Error: string; Data: string; Messages: { Sequence: string }[] }>(
      url,
      a,
      fwd.id,
    );
  };
  assert.equal((await forward("before")).Messages[0]?.Sequence, "1");
  const die = messageItem(a, "", "Die");
  await post(url, die);
  await waitResult(url, a, die.id);
  // The instance is gone: this message revives it (no checkpoint: a fresh spawn and a replay).
  const after = await forward("after");
  assert.equal(after.Error, "");
  assert.equal(after.Data, "3:after", "spawned afresh, the two earlier messages replayed");
  assert.equal(after.Messages[0]?.Sequence, "2", "not the Sequence the first forward had");
  await running.node.settled();
  const delivered = await running.store.messageByNonce(b, 2);
  assert.ok(delivered, "the receiver took the second forward");
  assert.equal((await running.store.result(delivered.id))?.Error, "");
});

test("a fresh node spawns its own token and registry; processes register themselves; balances are big integers", async () => {
  const info = (await getJson<{ Token: string; Registry: string }>(`${url}/info`)).body;
  assert.match(info.Token, /^[A-Za-z0-9_-]{43}$/);
  assert.match(info.Registry, /^[A-Za-z0-9_-]{43}$/);
  const me = running.node.address;
  const nodes = (await getJson<Record<string, { Role: string }>>(`${url}/nodes`)).body;
  assert.equal(nodes[me]?.Role, "main");
  assert.equal((await getJson<{ "Acc-Id": string }>(`${url}/node/${me}`)).body["Acc-Id"], me);
  const pid = await spawn();
  await running.node.settled();
  assert.ok((await getJson<string[]>(`${url}/processes/${me}`)).body.includes(pid));
  assert.deepEqual(
    (await getJson<{ "Acc-Id": string }[]>(`${url}/nodesByProcess/${pid}`)).body.map(
      (n) => n["Acc-Id"],
    ),
    [me],
  );
  const balance = await fetch(`${url}/balanceOf/${me}`);
  assert.equal(await balance.text(), "20000000000000000000");
  assert.equal(await (await fetch(`${url}/stakeof/${me}`)).text(), "1000000000000000000");
  const transfer = messageItem(info.Token, "", "Transfer", [
    { name: "Recipient", value: pid },
    { name: "Quantity", value: "5" },
  ]);
  await post(url, transfer);
  assert.equal((await waitResult(url, info.Token, transfer.id)).Error, "err_insufficient_balance");
});

test("Encrypted-* tags: /info has the key; the VM sees the plaintext (messages and spawns); the store keeps only ciphertext", async () => {
  const info = (await getJson(`${url}/info`)).body as { "Encryption-Public-Key": string };
  assert.match(info["Encryption-Public-Key"], /^0x04[0-9a-f]{128}$/);
  const client = new HymxClient({ url, signer: new EthereumSigner(CLIENT_KEY) });
  const pid = await client.spawn({
    module: moduleId,
    secrets: { "Bot-Token": "tg-spawn-secret-1" },
  });
  await client.waitResult(pid, pid);
  const spawnTag = await client.waitResult(
    pid,
    await client.message({ pid, action: "SpawnTag", tags: [{ name: "Name", value: "Bot-Token" }] }),
  );
  assert.equal(spawnTag.Data, sha256("tg-spawn-secret-1"));
  const param = await client.waitResult(
    pid,
    await client.message({
      pid,
      action: "Param",
      tags: [{ name: "Name", value: "Api-Key" }],
      secrets: { "Api-Key": "sk-message-secret-2" },
    }),
  );
  assert.equal(param.Data, sha256("sk-message-secret-2"));
  await running.node.checkpoint(pid);
  assert.ok(readdirSync(join(base, "ckp")).length > 0, "a checkpoint was written");
  assert.deepEqual(filesHolding(base, "tg-spawn-secret-1"), []);
  assert.deepEqual(filesHolding(base, "sk-message-secret-2"), []);
});

const sha256 = (v: string) => createHash("sha256").update(v).digest("hex");

test("GET /result?wait= answers as soon as the result is stored, null when it does not come in time, 404 err_result_not_found at once for an unknown message", async () => {
  const pid = await spawn();
  const slow = messageItem(pid, "z", "Slow", [{ name: "Ms", value: "400" }]);
  const t = Date.now();
  assert.equal((await post(url, slow)).status, 200);
  const early = await getJson(`${url}/result/${pid}/${slow.id}?wait=50`);
  assert.equal(early.body, null, "not stored within 50 ms");
  const r = await getJson<{ Data: string } | null>(`${url}/result/${pid}/${slow.id}?wait=10000`);
  assert.ok(r.body?.Data.endsWith(":z"), "the result, in the same request");
  const took = Date.now() - t;
  assert.ok(took >= 350 && took < 5000, `answered when stored (${took} ms)`);
  const t2 = Date.now();
  const unknown = await getJson<{ error: string }>(
    `${url}/result/${pid}/${"U".repeat(43)}?wait=10000`,
  );
  assert.deepEqual([unknown.status, unknown.body.error], [404, "err_result_not_found"]);
  assert.ok(Date.now() - t2 < 2000, "an unknown message is not waited for");
  const plain = await getJson(`${url}/result/${pid}/${"U".repeat(43)}`);
  assert.deepEqual([plain.status, plain.body], [200, null], "without wait: hymx's 200 null");
});

test("POST /?wait= answers with the result once it is stored; without it, or in time, the answer is upstream's {id, message}", async () => {
  const pid = await spawn();
  const postWait = async (item: ReturnType<typeof messageItem>, wait?: number) => {
    const res = await fetch(`${url}/${wait === undefined ? "" : `?wait=${wait}`}`, {
      method: "POST",
      body: item.encode(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const plain = messageItem(pid, "p", "Echo");
  assert.deepEqual(await postWait(plain), { status: 200, body: { id: plain.id, message: "" } });
  const slow = messageItem(pid, "s", "Slow", [{ name: "Ms", value: "400" }]);
  const early = await postWait(slow, 50);
  assert.deepEqual(
    early,
    { status: 200, body: { id: slow.id, message: "" } },
    "not stored in 50 ms",
  );
  const waited = messageItem(pid, "w", "Slow", [{ name: "Ms", value: "300" }]);
  const t = Date.now();
  const r = await postWait(waited, 10_000);
  assert.equal(r.status, 200);
  assert.equal(r.body.id, waited.id);
  const result = r.body.result as { "Item-Id": string; Data: string; Nonce: string };
  assert.equal(result["Item-Id"], waited.id);
  assert.ok(result.Data.endsWith(":w"), `the message's own result: ${JSON.stringify(result)}`);
  assert.ok(Date.now() - t >= 250, "answered after the apply, not before");
  const stored = await getJson(`${url}/result/${pid}/${waited.id}`);
  assert.deepEqual(stored.body, result, "what it answered is what is stored");
  const refused = await postWait(waited, 10_000);
  assert.equal(refused.status, 400, "a second copy is still refused");
  assert.equal(refused.body.error, "err_duplicate_item");
  // A wait that is not 0..60000 whole ms is refused before the item is taken.
  for (const wait of ["abc", "-5", "1.5", "60001", ""]) {
    const item = messageItem(pid, `bad-wait-${wait}`, "Echo");
    const res = await fetch(`${url}/?wait=${wait}`, { method: "POST", body: item.encode() });
    assert.equal(res.status, 400, `POST /?wait=${wait}`);
    const body = (await res.json()) as { error: string; message: string; hint: string };
    assert.equal(body.error, "err_invalid_params");
    assert.equal(
      body.message,
      `wait ${wait} is not a whole number of milliseconds from 0 to 60000`,
    );
    assert.match(body.hint, /wait=60000 or less \(milliseconds\)/);
    assert.ok(!(await running.store.locate(item.id)), "the item was not taken");
    const read = await getJson<{ error: string }>(`${url}/result/${pid}/${item.id}?wait=${wait}`);
    assert.deepEqual(
      [read.status, read.body.error],
      [400, "err_invalid_params"],
      `GET ?wait=${wait}`,
    );
  }
  const zero = messageItem(pid, "zero", "Echo");
  assert.deepEqual(await postWait(zero, 0), { status: 200, body: { id: zero.id, message: "" } });
  const client = new HymxClient({ url, signer: new EthereumSigner(CLIENT_KEY) });
  const sent = await client.messageAndWait({ pid, action: "Echo", data: "c" });
  assert.equal(sent.result["Item-Id"], sent.id);
  assert.ok(sent.result.Data.endsWith(":c"));
});

test("a VM that takes batches gets messages that arrive together in fewer calls, applied in nonce order", async () => {
  const r = await post(
    url,
    spawnItem(moduleId, running.node.address, [{ name: "Batch", value: "yes" }]),
  );
  const pid = r.body.id!;
  await waitResult(url, pid, pid);
  const items = Array.from({ length: 60 }, (_, i) => messageItem(pid, `b${i}`));
  assert.ok((await Promise.all(items.map((m) => post(url, m)))).every((a) => a.status === 200));
  await running.node.idle(pid);
  for (const m of items) {
    const res = await running.store.result(m.id);
    const at = await running.store.locate(m.id);
    assert.equal(res?.Data, `${at!.nonce}:${m.data.toString()}`, "applied as its nonce says");
  }
  const calls = messageItem(pid, "", "Calls");
  await post(url, calls);
  const batches = Number((await waitResult(url, pid, calls.id)).Data);
  assert.ok(batches >= 1 && batches < 60, `60 messages took ${batches} batch calls`);
});
