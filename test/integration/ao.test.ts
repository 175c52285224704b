import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { generateKeyPairSync, type JsonWebKey } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { connect, createSigner } from "@permaweb/aoconnect";
import { HymxClient } from "../../src/client/client.js";
import { AO_MODULE_NAME } from "../../src/module/ao.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { admin } from "../helpers/admin.js";
import {
  aoconnectSigner,
  aoModule,
  aoSpawnTags,
  evalLua,
  evalUntil,
  memoryHash,
  plain,
} from "../helpers/ao.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { testClient } from "../helpers/engine.js";

// AO processes end to end: the node, vmdocker/runtime-ao containers, AO's loader and the Lua
// module inside, driven by the project's client and by AO's own aoconnect.
const docker = testClient();
const base = mkdtempSync(join(tmpdir(), "vmd-ao-"));
const signer = new EthereumSigner(CLIENT_KEY);
let running: RunningNode;
let client: HymxClient;
let moduleId: string;

async function startAoNode(mode?: "normal" | "rebuild"): Promise<RunningNode> {
  const cfg = loadConfig(undefined, {
    VMDOCKER_PORT: ":0",
    VMDOCKER_ADMIN_PORT: ":0",
    VMDOCKER_CHECKPOINT_INTERVAL: "0",
  });
  return startNode(cfg, { baseDir: base, vms: new VmRegistry(), log: () => {}, docker, mode });
}

before(async () => {
  const mod = await aoModule(docker, signer);
  mkdirSync(join(base, "mod"), { recursive: true });
  copyFileSync(mod.file, join(base, "mod", basename(mod.file)));
  moduleId = mod.id;
  running = await startAoNode();
  client = new HymxClient({ url: running.url, signer });
});
after(async () => running?.close());

/** Spawns an AO process (AO's spawn tags, as aos sends them) and waits until it is up. */
async function spawnAo(name: string, data = "", extra: { name: string; value: string }[] = []) {
  const item = DataItem.sign(
    {
      data,
      tags: aoSpawnTags(moduleId, running.node.address, [{ name: "Name", value: name }, ...extra]),
    },
    signer,
  );
  const pid = await client.submit(item);
  const spawned = await client.waitResult(pid, pid, 120_000);
  assert.equal(spawned.Error, "", spawned.Error);
  return { pid, spawned };
}

test("Eval of 1 + 1 prints 2; a handler added by Eval answers a later message; its reply lands in the Inbox", async () => {
  const { pid, spawned } = await spawnAo("demo", "Booted = 'yes'", [
    { name: "On-Boot", value: "Data" },
  ]);
  assert.match(
    plain((spawned.Output as { prompt?: string }).prompt),
    /^demo@vmdocker-ao-[\d.]+\[Inbox:0\]> $/,
  );

  const two = await evalLua(client, pid, "1 + 1");
  assert.equal(two.Error, "");
  assert.equal(plain(two.Data), "2");
  assert.equal(
    plain((await evalLua(client, pid, "Booted")).Data),
    "yes",
    "On-Boot ran the spawn's data",
  );

  await evalLua(
    client,
    pid,
    'Handlers.add("ping", "Ping", function(m) m.reply({Data = "pong"}) end)',
  );
  const sent = await evalLua(client, pid, 'Send({Target = ao.id, Action = "Ping"})');
  assert.equal(plain(sent.Data), "Message added to outbox");
  assert.equal(sent.Messages?.[0]?.Target, pid);
  const data = await evalUntil(
    client,
    pid,
    "#Inbox > 0 and Inbox[#Inbox].Data or 'empty'",
    (t) => t !== "empty",
  );
  assert.equal(data, "pong");

  const err = await evalLua(client, pid, "error('boom')");
  assert.match(plain(err.Error), /boom/);
  const notOwner = new HymxClient({
    url: running.url,
    signer: new EthereumSigner(`0x${"11".repeat(32)}`),
  });
  const foreign = await evalLua(notOwner, pid, "Booted = 'hacked'");
  assert.equal(foreign.Error, "");
  assert.equal(
    plain((await evalLua(client, pid, "Booted")).Data),
    "yes",
    "only the owner may Eval",
  );
});

test("A sends to B and B's reply lands in A's Inbox; Receive waits across two processes", async () => {
  const a = (await spawnAo("a")).pid;
  const b = (await spawnAo("b")).pid;
  await evalLua(
    client,
    b,
    'Handlers.add("double", "Double", function(m) m.reply({Data = tostring(tonumber(m.Data) * 2)}) end)',
  );
  await evalLua(client, a, `Send({Target = "${b}", Action = "Double", Data = "21"})`);
  assert.equal(
    await evalUntil(
      client,
      a,
      "#Inbox > 0 and Inbox[#Inbox].Data or 'empty'",
      (t) => t !== "empty",
    ),
    "42",
  );
  assert.equal(await evalUntil(client, a, "Inbox[#Inbox].From", () => true), b);

  // Receive suspends the handler until B answers, then resumes it (its print lands in a later result).
  await evalLua(
    client,
    a,
    `Handlers.add("ask", "Ask", function(m)
       local answer = Send({Target = "${b}", Action = "Double", Data = m.Data}).receive()
       Answer = answer.Data
     end)`,
  );
  await client.message({ pid: a, action: "Ask", data: "50" });
  assert.equal(await evalUntil(client, a, "Answer or 'waiting'", (t) => t !== "waiting"), "100");
  assert.equal(
    await evalUntil(client, a, "#Inbox", () => true),
    "1",
    "the reply a Receive took does not also go to the Inbox",
  );
});

test("a spawn from Lua creates a child that answers; the parent hears Spawned with the child's id", async () => {
  const { pid } = await spawnAo("parent");
  await evalLua(
    client,
    pid,
    `Handlers.add("make", "Make", function(m)
       local spawned = Spawn(ao._module, { Name = "kid", ["On-Boot"] = "Data",
         Data = 'Handlers.add("hi", "Hi", function(m) m.reply({ Data = "hi from " .. Name }) end)' }).receive()
       Kid = spawned.Process
       KidSaid = Send({ Target = Kid, Action = "Hi" }).receive().Data
     end)`,
  );
  await client.message({ pid, action: "Make" });
  assert.equal(
    await evalUntil(client, pid, "KidSaid or 'waiting'", (t) => t !== "waiting"),
    "hi from kid",
  );
  const kid = await evalUntil(client, pid, "Kid", () => true);
  assert.match(kid, /^[A-Za-z0-9_-]{43}$/);
  const child = await client.waitResult(kid, kid, 60_000);
  assert.equal(child.Error, "");
  const spawnItem = (await (await fetch(`${running.url}/message/${kid}`)).json()) as {
    tags: { name: string; value: string }[];
  };
  const tag = (n: string) => spawnItem.tags.find((t) => t.name === n)?.value;
  assert.deepEqual(
    [tag("Type"), tag("From-Process"), tag("Name"), tag("Module")],
    ["Process", pid, "kid", moduleId],
  );
});

test("checkpoint and restore keep Lua globals; a dry-run leaves the memory byte for byte as it was", async () => {
  const { pid } = await spawnAo("keeper");
  await evalLua(client, pid, "Counter = 7; Notes = {'a', 'b'}");
  const before = await memoryHash(running.url, pid);

  const dry = await fetch(`${running.url}/dry-run?process-id=${pid}`, {
    method: "POST",
    body: JSON.stringify({
      Tags: [{ name: "Action", value: "Eval" }],
      Data: "Counter = 1000; return Counter",
    }),
  }).then((r) => r.json() as Promise<{ Output?: { data?: string } }>);
  assert.doesNotMatch(plain(dry.Output?.data), /1000/, "a dry-run from someone else runs no Eval");
  assert.equal(await memoryHash(running.url, pid), before, "the dry-run changed nothing");

  assert.deepEqual(await admin(running, "/admin/vms/stop", pid), { id: pid, message: "stopped" });
  assert.deepEqual(await admin(running, "/admin/vms/resume", pid), { id: pid, message: "resumed" });
  assert.equal(await memoryHash(running.url, pid), before, "the restore loaded the same memory");
  assert.equal(plain((await evalLua(client, pid, "Counter .. table.concat(Notes)")).Data), "7ab");
});

const jwk = generateKeyPairSync("rsa", {
  modulusLength: 4096,
  publicExponent: 65537,
}).privateKey.export({
  format: "jwk",
}) as JsonWebKey;

interface Ao {
  spawn(a: object): Promise<string>;
  message(a: object): Promise<string>;
  result(a: object): Promise<{ Output?: { data?: string }; Error?: unknown; Messages?: unknown[] }>;
  results(a: object): Promise<{ edges: { node: { Output?: { data?: string } } }[] }>;
  dryrun(a: object): Promise<{ Output?: { data?: string }; Messages?: { Data?: string }[] }>;
}

for (const [kind, makeSigner, owner] of [
  ["arweave", () => createSigner(jwk), "arweave"],
  ["ethereum", () => aoconnectSigner(signer), signer.address],
] as const) {
  test(`aoconnect (${kind} key): spawn, message, result, results and dryrun on the AO module; GraphQL finds the process by owner and Name`, async () => {
    const ao = connect({
      MODE: "legacy",
      MU_URL: running.url,
      CU_URL: running.url,
      GATEWAY_URL: running.url,
    }) as unknown as Ao;
    const aoSigner = makeSigner();
    const name = `aoc-${kind}`;
    const pid = await ao.spawn({
      module: moduleId,
      scheduler: running.node.address,
      signer: aoSigner,
      tags: [{ name: "Name", value: name }],
    });
    assert.equal((await ao.result({ message: pid, process: pid })).Error, undefined);
    const msg = await ao.message({
      process: pid,
      signer: aoSigner,
      tags: [{ name: "Action", value: "Eval" }],
      data: "Handlers.add('hi', 'Hi', function(m) m.reply({Data = 'hello ' .. m.Data}) end)",
    });
    assert.equal((await ao.result({ message: msg, process: pid })).Error, undefined);
    const two = await ao.message({
      process: pid,
      signer: aoSigner,
      tags: [{ name: "Action", value: "Eval" }],
      data: "1 + 1",
    });
    assert.equal(plain((await ao.result({ message: two, process: pid })).Output?.data), "2");
    const dry = await ao.dryrun({
      process: pid,
      tags: [{ name: "Action", value: "Hi" }],
      data: "there",
    });
    assert.equal(
      dry.Messages?.[0]?.Data,
      "hello there",
      "a dry-run answers from the current state",
    );
    const page = await ao.results({ process: pid, sort: "DESC", limit: 1 });
    assert.equal(plain(page.edges[0]?.node.Output?.data), "2");

    const address = owner === "arweave" ? await arweaveAddress() : owner;
    const found = await graphql(
      running.url,
      `query ($owners: [String!]!) {
      transactions(first: 10, owners: $owners, tags: [
        { name: "Data-Protocol", values: ["ao"] }, { name: "Type", values: ["Process"] }, { name: "Name", values: ["${name}"] }
      ]) { edges { cursor node { id owner { address } tags { name value } block { timestamp height } } } }
    }`,
      { owners: [address, ""] },
    );
    const edges = found.data.transactions.edges;
    assert.deepEqual(
      edges.map((e) => e.node.id),
      [pid],
    );
    assert.equal(edges[0]!.node.owner.address, address);
    assert.ok(edges[0]!.node.block.height > 0 && edges[0]!.node.block.timestamp > 1.6e9);
  });
}

async function arweaveAddress(): Promise<string> {
  const { createHash } = await import("node:crypto");
  return createHash("sha256").update(Buffer.from(jwk.n!, "base64url")).digest("base64url");
}

interface GqlEdge {
  cursor: string;
  node: {
    id: string;
    owner: { address: string };
    tags: { name: string; value: string }[];
    block: { timestamp: number; height: number };
  };
}
async function graphql(url: string, query: string, variables: object = {}) {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as {
    data: { transactions: { edges: GqlEdge[]; pageInfo: { hasNextPage: boolean } } };
    errors?: unknown[];
  };
}

test("GraphQL finds the AO module by Name, as aos looks modules up", async () => {
  const found = await graphql(
    running.url,
    `
      query ($name: String!) {
        transactions(
          tags: [
            { name: "Type", values: ["Module"] }
            { name: "Data-Protocol", values: ["ao"] }
            { name: "Name", values: [$name] }
          ]
          sort: HEIGHT_DESC
          first: 100
        ) {
          edges {
            node {
              id
              tags {
                name
                value
              }
              block {
                timestamp
              }
            }
          }
        }
      }
    `,
    { name: AO_MODULE_NAME },
  );
  assert.deepEqual(
    found.data.transactions.edges.map((e) => e.node.id),
    [moduleId],
  );
});

test("Assign reports once in Output.data; an Assign to no process is an error, not an empty assignment", async () => {
  const { pid } = await spawnAo("assigner");
  const ok = await evalLua(client, pid, 'Assign({Processes = {ao.id}, Message = "x"})');
  assert.equal(ok.Error, "", ok.Error);
  assert.equal(plain(ok.Data), "Assignment added to outbox");
  assert.deepEqual(ok.Assignments, [{ Processes: [pid], Message: "x" }]);
  const empty = await evalLua(client, pid, 'Assign({Processes = {}, Message = "x"})');
  assert.match(plain(empty.Error), /Processes names no process/);
  assert.deepEqual(empty.Assignments ?? [], []);
});

test("vmdocker ao connect demo: 1 + 1 prints 2; a ping handler's pong reaches the Inbox and is shown; a second connect attaches; a block that cannot close shows the Lua error; .exit inside a block exits", async () => {
  const key = `0x${"77".repeat(32)}`;
  const session = connectCli([
    "ao",
    "connect",
    "demo",
    "--url",
    running.url,
    "--key",
    key,
    "--poll-ms",
    "200",
  ]);
  await session.waitFor(/spawned demo [A-Za-z0-9_-]{43}/, 180_000);
  session.write("1 + 1\n");
  await session.waitFor(/^2$/m);
  session.write('Handlers.add("ping", "Ping", function(m)\n  m.reply({Data = "pong"})\nend)\n');
  session.write('Send({Target = ao.id, Action = "Ping"})\n');
  await session.waitFor(/Message added to outbox/);
  await session.waitFor(/New Message From .*: Data = pong/);
  session.write(".exit\n");
  assert.equal(await session.exited, 0);
  const pid = /spawned demo ([A-Za-z0-9_-]{43})/.exec(session.output())![1]!;

  const again = connectCli(["ao", "connect", "demo", "--url", running.url, "--key", key]);
  await again.waitFor(new RegExp(`connected to demo ${pid}`), 60_000);
  again.write("Inbox[#Inbox].Data\n");
  await again.waitFor(/^pong$/m);
  // A block that can never close shows Lua's error and is dropped; the next line runs.
  again.write("function f(\nend\n");
  await again.waitFor(/input:\d+: .*near 'end'/);
  again.write("40 + 2\n");
  await again.waitFor(/^42$/m);
  // .exit works inside an unfinished block.
  again.write("x = {\n.exit\n");
  assert.equal(await again.exited, 0);
});

/** The built CLI as a child process with its stdin open, for interactive tests. */
function connectCli(args: string[]) {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("../../src/cli/vmdocker.js", import.meta.url)), ...args],
    {
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number>((res) => child.on("close", (code) => res(code ?? -1)));
  return {
    write: (text: string) => child.stdin.write(text),
    output: () => out,
    exited,
    async waitFor(pattern: RegExp, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (Date.now() > deadline) {
          child.kill();
          throw new Error(`no ${pattern} in the client's output:\n${out}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

test("replay from the message log reaches the same memory hash", async () => {
  const { pid } = await spawnAo("replayed");
  for (let i = 1; i <= 5; i++)
    await evalLua(client, pid, `Log = (Log or '') .. '${i}'; Seen = (Seen or 0) + 1`);
  const live = await memoryHash(running.url, pid);
  await running.close();
  running = await startAoNode("rebuild");
  client = new HymxClient({ url: running.url, signer });
  assert.equal(await memoryHash(running.url, pid), live);
  assert.equal(plain((await evalLua(client, pid, "Log")).Data), "12345");
});
