import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { HymxClient } from "../../src/client/client.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { aoModule, aoSpawnTags, evalLua, plain } from "../helpers/ao.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { testClient } from "../helpers/engine.js";

// Two AO processes play ping-pong (1,000 messages: 500 Pings, 500 Pongs) through the node's durable
// outbox while the node is killed with kill -9 twice: every Ping and every Pong arrives exactly once.
const ROUNDS = 500;
const script = fileURLToPath(new URL("../helpers/ao-node.js", import.meta.url));
const docker = testClient();
const signer = new EthereumSigner(CLIENT_KEY);
let mod: { id: string; file: string };

before(async () => {
  mod = await aoModule(docker, signer);
});

function startChild(
  base: string,
  port: string,
  redis: string,
): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      env: {
        ...process.env,
        BASE_DIR: base,
        PORT: port,
        REDIS_URL: redis,
        CHECKPOINT_INTERVAL: "2",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const url = /URL (\S+)/.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code, signal) => reject(new Error(`node exited ${code ?? signal}: ${out}`)));
  });
}

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
    const base = mkdtempSync(join(tmpdir(), "vmd-pp-"));
    mkdirSync(join(base, "mod"));
    copyFileSync(mod.file, join(base, "mod", basename(mod.file)));
    let redisUrl = "";
    if (storeKind === "redis") {
      redisUrl = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/11`;
      const r = new Redis(redisUrl);
      await r.flushdb();
      r.disconnect();
    }
    let node = await startChild(base, ":0", redisUrl);
    const port = new URL(node.url).port;
    const pids: string[] = [];
    try {
      const client = new HymxClient({ url: node.url, signer });
      const scheduler = (await client.info()).Node["Acc-Id"];
      const spawnOne = async (name: string) => {
        const pid = await client.submit(
          DataItem.sign(
            { tags: aoSpawnTags(mod.id, scheduler, [{ name: "Name", value: name }]) },
            signer,
          ),
        );
        assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
        pids.push(pid);
        return pid;
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
        node.child.kill("SIGKILL");
        await new Promise((r) => node.child.once("exit", r));
        node = await startChild(base, `:${port}`, redisUrl);
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
