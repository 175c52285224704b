import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { extractAoWasm } from "../../src/runtime/images/ao-sources.js";
import { IMAGES } from "../../src/runtime/images/builder.js";
import {
  AoEvaluationError,
  AoProcess,
  AO_MODULE_FORMAT,
  type AoEnv,
  type AoMessage,
} from "../../src/runtimes/ao-process.js";
import { plain } from "../helpers/ao.js";
import { testClient } from "../helpers/engine.js";

// The AO module of vmdocker/runtime-ao (real Lua 5.3 in WebAssembly with vmdocker's AO process
// library) run by AO's own loader in this process: the library's documented behaviour.
let wasm: Uint8Array;
const PID = "P".repeat(43);
const env: AoEnv = {
  Process: {
    Id: PID,
    Owner: "owner",
    Tags: [
      { name: "Name", value: "lib" },
      { name: "Scheduler", value: "node" },
      { name: "Module", value: "M".repeat(43) },
    ],
  },
  Module: { Id: "M".repeat(43), Owner: "", Tags: [{ name: "Compute-Limit", value: "20000000" }] },
};
let n = 0;
function msg(
  over: Partial<AoMessage> & { action?: string; tags?: Record<string, string> },
): AoMessage {
  n++;
  const tags = Object.entries({
    ...(over.action ? { Action: over.action } : {}),
    ...over.tags,
  }).map(([name, value]) => ({ name, value }));
  return {
    Id: `m${n}`,
    Owner: "owner",
    From: "owner",
    Target: PID,
    Tags: tags,
    Data: "",
    Timestamp: String(1_700_000_000_000 + n * 1000),
    Nonce: String(n),
    "Block-Height": "0",
    Module: "M".repeat(43),
    Cron: false,
    ...over,
  };
}

before(async () => {
  const file = await extractAoWasm(
    testClient(),
    IMAGES["runtime-ao"],
    join(mkdtempSync(join(tmpdir(), "vmd-aomod-")), "process.wasm"),
  );
  wasm = new Uint8Array(readFileSync(file));
});

async function spawned(): Promise<AoProcess> {
  const p = new AoProcess(wasm, { format: AO_MODULE_FORMAT });
  await p.evaluate(msg({ Id: PID, tags: { Type: "Process" } }), env);
  return p;
}

const evalText = async (p: AoProcess, code: string) =>
  plain(
    (
      ((await p.evaluate(msg({ action: "Eval", Data: code }), env)).Output ?? {}) as {
        data?: string;
      }
    ).data,
  );

test("Handlers: add replaces by name in place, prepend/append order, once runs once, remove, patterns as strings, tables and functions", async () => {
  const p = await spawned();
  await evalText(
    p,
    `Seen = {}
     Handlers.add("a", "Hit", function(m) table.insert(Seen, "a") end)
     Handlers.prepend("first", function(m) return m.Action == "Hit" and "continue" or 0 end, function(m) table.insert(Seen, "first") end)
     Handlers.append("tagged", { Action = "Hit", Color = "re.+" }, function(m) table.insert(Seen, "tagged") end)
     Handlers.once("one", Handlers.utils.hasMatchingTag("Action", "Hit"), function(m) table.insert(Seen, "once") end)`,
  );
  await p.evaluate(msg({ action: "Hit", tags: { Color: "red" } }), env);
  assert.equal(await evalText(p, "table.concat(Seen, ',')"), "once", "once is in front and breaks");
  await p.evaluate(msg({ action: "Hit", tags: { Color: "red" } }), env);
  assert.equal(
    await evalText(p, "table.concat(Seen, ',')"),
    "once,first,a",
    "first continues, a breaks",
  );
  await evalText(
    p,
    `Handlers.add("a", "Hit", function(m) table.insert(Seen, "a2") return end); Handlers.remove("first"); Seen = {}`,
  );
  await p.evaluate(msg({ action: "Hit", tags: { Color: "red" } }), env);
  assert.equal(await evalText(p, "table.concat(Seen, ',')"), "a2", "same name replaced in place");
  await evalText(p, `Handlers.remove("a"); Seen = {}`);
  await p.evaluate(msg({ action: "Hit", tags: { Color: "blue" } }), env);
  await p.evaluate(msg({ action: "Hit", tags: { Color: "red" } }), env);
  assert.equal(
    await evalText(p, "table.concat(Seen, ',')"),
    "tagged",
    "a table pattern checks every tag (Lua patterns too)",
  );
  assert.equal(await evalText(p, "#Inbox"), "1", "the unmatched message went to the Inbox");
  assert.equal(
    await evalText(
      p,
      `local names = {} for _, h in ipairs(Handlers.list) do table.insert(names, h.name) end return table.concat(names, ",")`,
    ),
    "_eval,_default,tagged",
  );
});

test("msg.reply and msg.forward carry AO's reference tags; ao.send, ao.spawn and ao.assign fill the result", async () => {
  const p = await spawned();
  await evalText(
    p,
    `Handlers.add("r", "Ask", function(m) m.reply({ Data = "yes" }) end)
     Handlers.add("f", "Pass", function(m) m.forward("${"T".repeat(43)}", { Extra = "1" }) end)`,
  );
  const reply = await p.evaluate(
    msg({ action: "Ask", From: "A".repeat(43), Owner: "node", tags: { Reference: "7" } }),
    env,
  );
  const tagsOf = (m: { Tags: { name: string; value: string }[] }) =>
    Object.fromEntries(m.Tags.map((t) => [t.name, t.value]));
  assert.equal(reply.Messages[0]!.Target, "A".repeat(43));
  assert.equal(tagsOf(reply.Messages[0]!)["X-Reference"], "7");
  assert.equal(reply.Messages[0]!.Data, "yes");
  const fwd = await p.evaluate(
    msg({
      action: "Pass",
      From: "A".repeat(43),
      Owner: "node",
      tags: { Reference: "8", Note: "n" },
    }),
    env,
  );
  const f = tagsOf(fwd.Messages[0]!);
  assert.equal(fwd.Messages[0]!.Target, "T".repeat(43));
  assert.deepEqual(
    [f["Reply-To"], f["X-Reference"], f["X-Origin"], f.Note, f.Extra],
    ["A".repeat(43), "8", "A".repeat(43), "n", "1"],
  );
  const out = await p.evaluate(
    msg({
      action: "Eval",
      Data: `Spawn("${"M".repeat(43)}", { Name = "kid", Data = { a = 1 } }); Assign({ Processes = { "x" }, Message = "y" })`,
    }),
    env,
  );
  const spawn = tagsOf(out.Spawns[0]!);
  assert.deepEqual(
    [spawn.Type, spawn["From-Process"], spawn.Name, spawn["Content-Type"]],
    ["Process", PID, "kid", "application/json"],
  );
  assert.equal(out.Spawns[0]!.Data, '{"a":1}');
  assert.deepEqual(out.Assignments, [{ Processes: ["x"], Message: "y" }]);
});

test("trust: only the owner's Eval runs; a message signed by neither the sender nor an authority is refused", async () => {
  const p = await spawned();
  await p.evaluate(
    msg({ action: "Eval", From: "stranger", Owner: "stranger", Data: "Hacked = true" }),
    env,
  );
  assert.equal(await evalText(p, "tostring(Hacked)"), "nil");
  const spoof = await p.evaluate(
    msg({ action: "Eval", From: "owner", Owner: "stranger", Data: "Hacked = true" }),
    env,
  );
  assert.match(plain((spoof.Output as { data: string }).data), /not trusted/);
  assert.equal(await evalText(p, "tostring(Hacked)"), "nil");
  assert.equal(
    await evalText(p, "Owner .. ' ' .. Name .. ' ' .. ao.id:sub(1, 3)"),
    "owner lib PPP",
  );
});

test("json, os.time from the message, the Inbox bound, the compute limit, and errors as AO's Error", async () => {
  const p = await spawned();
  assert.equal(
    await evalText(p, `require("json").encode({ b = { 1, 2 }, a = "x\\n", n = 1.5 })`),
    '{"a":"x\\n","b":[1,2],"n":1.5}',
  );
  assert.equal(await evalText(p, `require("json").decode('{"k":[true,null,3]}').k[3]`), "3");
  const t = Number(await evalText(p, "os.time()"));
  assert.equal(t, 1_700_000_000_000 + n * 1000, "os.time is the message's Timestamp (ms)");
  await evalText(p, "require('.process').maxInbox = 3");
  for (let i = 0; i < 5; i++) await p.evaluate(msg({ action: "Note", Data: String(i) }), env);
  assert.equal(await evalText(p, "#Inbox .. ':' .. Inbox[1].Data .. Inbox[3].Data"), "3:24");
  await assert.rejects(
    p.evaluate(msg({ action: "Eval", Data: "while true do end" }), env),
    (e: unknown) => e instanceof AoEvaluationError && /compute limit/.test(e.text),
  );
  await assert.rejects(
    p.evaluate(msg({ action: "Eval", Data: "nil + 1" }), env),
    AoEvaluationError,
  );
  assert.equal(await evalText(p, "'still ' .. 'alive'"), "still alive");
});

test("snapshot and restore carry the whole state; a dry-run leaves the memory as it was", async () => {
  const p = await spawned();
  await evalText(p, "Big = {} for i = 1, 1000 do Big[i] = i * i end");
  const before = p.digest()!;
  assert.equal(await plainDry(p, "Big = nil; return 'gone'"), "gone");
  assert.deepEqual(p.digest(), before, "the dry-run changed nothing");
  const { process: q } = AoProcess.fromSnapshot(wasm, { format: AO_MODULE_FORMAT }, p.snapshot());
  assert.deepEqual(q.digest(), before);
  assert.equal(await evalText(q, "Big[1000]"), "1000000");
});

async function plainDry(p: AoProcess, code: string) {
  const out = await p.dryRun(msg({ action: "Eval", Data: code }), env);
  return plain((out.Output as { data?: string }).data);
}
