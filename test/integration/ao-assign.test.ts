import assert from "node:assert/strict";
import { before, test } from "node:test";
import { connect } from "@permaweb/aoconnect";
import { HymxClient } from "../../src/client/client.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { aoModule, evalLua, evalUntil, plain } from "../helpers/ao.js";
import { aoChildBase, killAoChild, spawnAoProcess, startAoChild } from "../helpers/ao-child.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { testClient } from "../helpers/engine.js";

// AO's assignments: process A's handler assigns every Hello it receives to B (which takes them:
// an assignable) and to C (which does not, as aos refuses an assignment no assignable matches).
// B evaluates each message itself (its id, signer and Target A) exactly once, with the node killed
// -9 twice while messages are on their way; duplicates, unknown ids and assignments back to the
// message's own process are refused with a logged reason.
const HELLOS = 30;
const docker = testClient();
const signer = new EthereumSigner(CLIENT_KEY);
let mod: { id: string; file: string };

before(async () => {
  mod = await aoModule(docker, signer);
});

/** How many distinct Hello ids B evaluated, and how many of them more than once: "n/twice". */
const tally = `local n, twice = 0, 0
  for _, v in pairs(Got or {}) do n = n + 1 if v ~= 1 then twice = twice + 1 end end
  return n .. "/" .. twice`;

for (const storeKind of ["sqlite", "redis"] as const) {
  test(`${storeKind}: Assign hands a message A received to B, exactly once across kill -9; C without an assignable refuses it; duplicates and unknown ids are refused`, async () => {
    const { base, redisUrl } = await aoChildBase(mod.file, storeKind, 14);
    const log: string[] = [];
    let node = await startAoChild(base, ":0", redisUrl, log);
    const port = new URL(node.url).port;
    const pids: string[] = [];
    try {
      const client = new HymxClient({ url: node.url, signer });
      const spawnOne = async (name: string) => {
        pids.push(await spawnAoProcess(client, signer, mod.id, name));
        return pids.at(-1)!;
      };
      const [a, b, c] = [await spawnOne("a"), await spawnOne("b"), await spawnOne("c")];
      const counting = `Handlers.add("hello", "Hello", function(m)
          Got = Got or {}; Got[m.Id] = (Got[m.Id] or 0) + 1
          Last = m.Id .. " " .. m.Target .. " " .. m.From .. " " .. m.Owner .. " " .. m.Data
        end)`;
      await evalLua(client, b, `ao.addAssignable("hellos", { Action = "Hello" })\n${counting}`);
      await evalLua(client, c, counting);
      await evalLua(
        client,
        a,
        `Handlers.add("assign", "Hello", function(m) Assign({ Processes = { "${b}", "${c}" }, Message = m.Id }) end)`,
      );

      // One Hello, looked at closely: B sees the message itself, as AO shows an assignment.
      const first = await client.message({ pid: a, action: "Hello", data: "hi 0" });
      const last = await evalUntil(client, b, "Last or 'none'", (t) => t !== "none");
      assert.equal(last, `${first} ${a} ${signer.address} ${signer.address} hi 0`);

      // The rest in two bursts, each cut short by kill -9 while A's results and their
      // assignments are on their way.
      const sent = [first];
      for (const burst of [1, 2]) {
        for (let i = 0; i < HELLOS / 2; i++)
          sent.push(await client.message({ pid: a, action: "Hello", data: `hi ${burst}.${i}` }));
        await killAoChild(node);
        node = await startAoChild(base, `:${port}`, redisUrl, log);
      }
      const all = `${sent.length}/0`;
      assert.equal(await evalUntil(client, b, tally, (t) => t === all, 300_000), all);

      // A duplicate, an unknown id, a message back to its own process and a target that is no
      // process here are refused; the Hello after them shows delivery went past them.
      const unknown = "u".repeat(43);
      await evalLua(
        client,
        a,
        `Assign({ Processes = { "${b}" }, Message = "${first}" })
         Assign({ Processes = { "${b}" }, Message = "${unknown}" })
         Assign({ Processes = { "${a}" }, Message = "${first}" })
         Assign({ Processes = { "${b}" }, Message = "${c}" })
         Assign({ Processes = { "${"x".repeat(43)}" }, Message = "${first}" })`,
      );
      sent.push(await client.message({ pid: a, action: "Hello", data: "after" }));
      const more = `${sent.length}/0`;
      assert.equal(await evalUntil(client, b, tally, (t) => t === more, 120_000), more);
      assert.equal(plain((await evalLua(client, b, `Got["${first}"]`)).Data), "1");
      const refused = log.filter((l) => l.includes("assignment refused"));
      assert.ok(
        refused.some((l) => l.includes("err_message_not_found") && l.includes(unknown)),
        refused.join("\n"),
      );
      const invalid = refused.filter((l) => l.includes("err_invalid_assignment"));
      assert.ok(
        invalid.some((l) => l.includes(`${first} is in ${a}'s schedule already`)),
        refused.join("\n"),
      );
      assert.ok(
        invalid.some((l) => l.includes(`${c} is a spawn`)),
        refused.join("\n"),
      );
      assert.ok(
        refused.some((l) => l.includes("err_process_not_found")),
        refused.join("\n"),
      );

      // Assignables by name: added, replaced, removed; a pattern matches as a handler's does.
      const assignables = await evalLua(
        client,
        b,
        `ao.addAssignable("x", { Action = "Nope" }); ao.addAssignable("x", { Action = "Other" })
         local n = #ao.assignables; ao.removeAssignable("x")
         return n .. "/" .. #ao.assignables .. "/" .. tostring(ao.isAssignable({ Action = "Hello", Tags = {} }))
           .. "/" .. tostring(ao.isAssignable({ Action = "Other", Tags = {} }))`,
      );
      assert.equal(plain(assignables.Data), "2/1/true/false");

      // Nobody but a result assigns: POST / refuses an assignment item, whoever signed it.
      const forged = DataItem.sign(
        {
          target: b,
          tags: [
            { name: "Data-Protocol", value: "ao" },
            { name: "Variant", value: "ao.TN.1" },
            { name: "Type", value: "Assignment" },
            { name: "Process", value: b },
            { name: "Message", value: first },
          ],
        },
        signer,
      );
      await assert.rejects(client.submit(forged), /err_invalid_type/);

      // AO's result of the message under each process (aoconnect, as a user reads it): A's own,
      // B's evaluation of the assignment, and C's refusal, which ran no handler.
      const ao = connect({
        MODE: "legacy",
        MU_URL: node.url,
        CU_URL: node.url,
        GATEWAY_URL: node.url,
      }) as unknown as { result(a: object): Promise<Record<string, unknown>> };
      const of = (process: string) => ao.result({ message: first, process });
      assert.equal((await of(a))["From-Process"], a);
      const atB = await of(b);
      assert.equal(atB["From-Process"], b);
      assert.notEqual(atB["Item-Id"], first, "B's result is its assignment's");
      const atC = await of(c);
      assert.match(plain(JSON.stringify(atC.Output)), /Assignment is not trusted/);
      assert.equal(
        plain((await evalLua(client, c, "tostring(Got) .. '/' .. #Inbox")).Data),
        "nil/0",
      );
      // Another well-formed id (ids are random base64url: one in 64 starts with "_" already).
      const other = `${a.startsWith("_") ? "-" : "_"}${a.slice(1)}`;
      const never = await fetch(`${node.url}/result/${sent[1]}?process-id=${other}`);
      assert.equal(never.status, 404, "a process that never had the message has no result of it");
    } finally {
      node.child.kill("SIGKILL");
      for (const pid of pids)
        await docker.removeContainer(`hymatrix_${pid}`, { force: true }).catch(() => {});
    }
  });
}
