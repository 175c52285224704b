import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { HymxClient } from "../../src/client/client.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { messageTags } from "../../src/protocol/hymx.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { getJson, messageItem, post, spawnItem, waitResult } from "../helpers/client.js";
import { ECHO_FORMAT, echoFactory, writeEchoModule } from "../helpers/echo-vm.js";
import { freePort } from "../helpers/ports.js";

// Two nodes on this machine: A is the main node (token, registry); B joins A's network.
const KEY_A = "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";
const KEY_B = "0x8f2a55949038a9610f50fb23b5883af3b4ecb3c3bb792cbcefbd1542c692be63";
let a: RunningNode;
let b: RunningNode;
let moduleId: string;

async function node(key: string, extra: Record<string, string>): Promise<RunningNode> {
  const base = mkdtempSync(join(tmpdir(), "vmd-net-"));
  moduleId = await writeEchoModule(base);
  const port = await freePort();
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, echoFactory);
  const cfg = loadConfig(undefined, {
    VMDOCKER_PORT: `:${port}`,
    VMDOCKER_NODE_URL: `http://127.0.0.1:${port}`,
    VMDOCKER_PRV_KEY: key,
    ...extra,
  });
  return startNode(cfg, { baseDir: base, vms, log: () => {} });
}

before(async () => {
  a = await node(KEY_A, { VMDOCKER_NODE_NAME: "main" });
  // A's wallet holds the genesis tAX: fund B's wallet so B can stake and join.
  const token = a.node.core.token!;
  const fund = DataItemTransfer(token, new EthereumSigner(KEY_B).address, "1000000000000");
  await post(a.url, fund);
  assert.equal((await waitResult(a.url, token, fund.id)).Error, "");
  b = await node(KEY_B, {
    VMDOCKER_JOIN_NETWORK: "true",
    VMDOCKER_HYMX_URL: a.url,
    VMDOCKER_NODE_NAME: "second",
  });
});
after(async () => {
  await b?.close();
  await a?.close();
});

function DataItemTransfer(token: string, recipient: string, quantity: string) {
  return messageItem(token, "", "Transfer", [
    { name: "Recipient", value: recipient },
    { name: "Quantity", value: quantity },
  ]);
}

test("a second node joins: it stakes on the main node's token and the registry lists it", async () => {
  const bAddr = b.node.address;
  const nodes = (await getJson<Record<string, { URL: string; Name: string }>>(`${a.url}/nodes`))
    .body;
  assert.equal(nodes[bAddr]?.URL, b.url);
  assert.equal(nodes[bAddr]?.Name, "second");
  assert.equal(await (await fetch(`${a.url}/stakeOf/${bAddr}`)).text(), "1000000000000");
  const info = (
    await getJson<{ Token: string; Registry: string; "Join-Network": boolean }>(`${b.url}/info`)
  ).body;
  assert.equal(info.Registry, a.node.core.registry);
  assert.equal(info["Join-Network"], true);
});

test("processes on the second node register with the main registry; the main node redirects to them; messages cross nodes", async () => {
  const pidB = (await post(b.url, spawnItem(moduleId, b.node.address))).body.id!;
  await waitResult(b.url, pidB, pidB);
  const deadline = Date.now() + 15_000;
  while (
    (await getJson<{ "Acc-Id": string }[] | null>(`${a.url}/nodesByProcess/${pidB}`)).body?.[0]?.[
      "Acc-Id"
    ] !== b.node.address
  ) {
    assert.ok(Date.now() < deadline, "B's process was registered on A");
    await new Promise((r) => setTimeout(r, 50));
  }

  // A message for B's process, sent to A: 308 to B with B's node record; the client follows it.
  const direct = await fetch(`${a.url}/`, {
    method: "POST",
    body: messageItem(pidB, "x").encode(),
    redirect: "manual",
  });
  assert.equal(direct.status, 308);
  assert.equal(direct.headers.get("location"), b.url);
  const client = new HymxClient({ url: a.url, signer: new EthereumSigner(KEY_A) });
  const id = await client.message({ pid: pidB, action: "Echo", data: "via A" });
  assert.equal((await waitResult(b.url, pidB, id)).Data.endsWith(":via A"), true);

  // A process on A forwards to B's process: A's outbox delivers it to B, which checks A serves the sender.
  const pidA = (await post(a.url, spawnItem(moduleId, a.node.address))).body.id!;
  await waitResult(a.url, pidA, pidA);
  const fwd = messageItem(pidA, "hop", "Forward", [{ name: "To", value: pidB }]);
  await post(a.url, fwd);
  await waitResult(a.url, pidA, fwd.id);
  const until = Date.now() + 15_000;
  let arrived: { tags?: { name: string; value: string }[] } | null = null;
  while (!arrived) {
    arrived = (
      await getJson<{ tags?: { name: string; value: string }[] } | null>(
        `${b.url}/messageByNonce/${pidB}/2`,
      )
    ).body;
    assert.ok(Date.now() < until, "the forwarded message reached B");
    if (!arrived) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(arrived.tags?.find((t) => t.name === "From-Process")?.value, pidA);

  // Somebody else's node cannot pretend to speak for A's process.
  const stranger = new EthereumSigner(
    "0x1111111111111111111111111111111111111111111111111111111111111111",
  );
  const forged = DataItem.sign(
    {
      target: pidB,
      data: "forged",
      tags: messageTags({ action: "Echo", fromProcess: pidA, sequence: 99 }),
    },
    stranger,
  );
  assert.equal((await post(b.url, forged)).body.error, "err_unauthorized_node");
});

test("a node that joined unstakes when it shuts down, and the main registry drops it", async () => {
  const bAddr = b.node.address;
  await b.close();
  const deadline = Date.now() + 15_000;
  while ((await getJson<unknown>(`${a.url}/node/${bAddr}`)).body !== null) {
    assert.ok(Date.now() < deadline, "B was unregistered");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(await (await fetch(`${a.url}/stakeOf/${bAddr}`)).text(), "0");
  assert.equal(await (await fetch(`${a.url}/balanceOf/${bAddr}`)).text(), "1000000000000");
  b = undefined as unknown as RunningNode;
});
