import assert from "node:assert/strict";
import { before, test } from "node:test";
import { HymxClient } from "../../src/client/client.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { aoModule, evalLua, plain } from "../helpers/ao.js";
import { aoChildBase, killAoChild, spawnAoProcess, startAoChild } from "../helpers/ao-child.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { testClient } from "../helpers/engine.js";

// Two AO processes play ping-pong (1,000 messages: 500 Pings, 500 Pongs) through the node's durable
// outbox while the node is killed with kill -9 twice: every Ping and every Pong arrives exactly once.
const ROUNDS = 500;
const docker = testClient();
const signer = new EthereumSigner(CLIENT_KEY);
let mod: { id: string; file: string };

before(async () => {
  mod = await aoModule(docker, signer);
});

/** A's progress: the nonce of its newest result (each Pong is one), read while the node may be down. */
async function progress(url: string, pid: string): Promise<number> {
  try {
    const res = await fetch(`${url}/results/${pid}?sort=DESC&limit=1`);
    const body = (await res.json()) as { edges: { node: { Nonce: string } }[] };
    return Number(body.edges[0]?.node.Nonce ?? 0);
  } catch {
    return 0;
  }
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

for (const storeKind of ["sqlite", "redis"] as const) {
  test(`${storeKind}: ${ROUNDS * 2} messages of ping-pong between two AO processes, none lost or doubled, with the node killed -9 twice`, async () => {
    const { base, redisUrl } = await aoChildBase(mod.file, storeKind, 15);
    let node = await startAoChild(base, ":0", redisUrl);
    const port = new URL(node.url).port;
    const pids: string[] = [];
    try {
      const client = new HymxClient({ url: node.url, signer });
      const spawnOne = async (name: string) => {
        pids.push(await spawnAoProcess(client, signer, mod.id, name));
        return pids.at(-1)!;
      };
      const a = await spawnOne("pinger");
      const b = await spawnOne("ponger");
      await evalLua(
        client,
        b,
        `Handlers.add("ping", "Ping", function(m) Pings = (Pings or 0) + 1; m.reply({ Action = "Pong", N = m.N }) end)`,
      );
      await evalLua(
        client,
        a,
        `Peer = "${b}"; Seen = {}; Pongs = 0
         Handlers.add("pong", "Pong", function(m)
           Pongs = Pongs + 1
           Seen[m.N] = (Seen[m.N] or 0) + 1
           if Pongs < ${ROUNDS} then Send({ Target = Peer, Action = "Ping", N = tostring(Pongs + 1) }) end
         end)`,
      );
      const start = await progress(node.url, a);
      await evalLua(client, a, `Send({ Target = Peer, Action = "Ping", N = "1" })`);
      for (const at of [ROUNDS / 4, ROUNDS / 2]) {
        await until(
          `${at} pongs`,
          async () => (await progress(node.url, a)) >= start + at,
          300_000,
        );
        await killAoChild(node);
        node = await startAoChild(base, `:${port}`, redisUrl);
      }
      const done = async () => Number(plain((await evalLua(client, a, "Pongs")).Data)) >= ROUNDS;
      await until(`${ROUNDS} pongs`, () => done().catch(() => false), 600_000);
      await new Promise((r) => setTimeout(r, 1000)); // nothing more may arrive
      assert.equal(plain((await evalLua(client, a, "Pongs")).Data), String(ROUNDS));
      assert.equal(plain((await evalLua(client, b, "Pings")).Data), String(ROUNDS));
      const tally = plain(
        (
          await evalLua(
            client,
            a,
            `local n, twice = 0, 0 for k, v in pairs(Seen) do n = n + 1 if v ~= 1 then twice = twice + 1 end end return n .. "/" .. twice`,
          )
        ).Data,
      );
      assert.equal(tally, `${ROUNDS}/0`, "every N arrived once");
    } finally {
      node.child.kill("SIGKILL");
      // A killed node leaves its process containers behind.
      for (const pid of pids)
        await docker.removeContainer(`hymatrix_${pid}`, { force: true }).catch(() => {});
    }
  });
}
