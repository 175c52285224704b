import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { getJson, messageItem, post, spawnItem, waitResult } from "../helpers/client.js";
import { startEchoNode as startChild } from "../helpers/child-node.js";
import { writeEchoModule } from "../helpers/echo-vm.js";

for (const storeKind of ["sqlite", "redis"] as const) {
  test(`${storeKind}: kill -9 with messages in flight; after restart every acknowledged message has exactly one nonce and a result`, async () => {
    const base = mkdtempSync(join(tmpdir(), "vmd-crash-"));
    const moduleId = await writeEchoModule(base);
    let redisUrl = "";
    if (storeKind === "redis") {
      redisUrl = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/12`;
      const r = new Redis(redisUrl);
      await r.flushdb();
      r.disconnect();
    }
    const first = await startChild(base, ":0", redisUrl);
    const port = new URL(first.url).port;
    const pids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await post(first.url, spawnItem(moduleId, first.address));
      pids.push(r.body.id!);
      await waitResult(first.url, r.body.id!, r.body.id!);
    }
    const acked = new Map<string, string>();
    const items = pids.flatMap((pid) =>
      Array.from({ length: 200 }, (_, i) => ({ pid, item: messageItem(pid, `m${i}`) })),
    );
    let killed = false;
    await Promise.all(
      items.map(async ({ pid, item }, i) => {
        await new Promise((r) => setTimeout(r, i % 50));
        try {
          const r = await post(first.url, item);
          if (r.status === 200) acked.set(item.id, pid);
          if (acked.size >= 150 && !killed) {
            killed = true;
            first.child.kill("SIGKILL");
          }
        } catch {
          // the node died under this request: not acknowledged
        }
      }),
    );
    assert.ok(killed, "the node was killed mid-stream");
    assert.ok(acked.size >= 150);

    const second = await startChild(base, `:${port}`, redisUrl);
    try {
      for (const [id, pid] of acked) await waitResult(second.url, pid, id, 30_000);
      for (const pid of pids) {
        const nonce = (await getJson<number>(`${second.url}/nonce/${pid}`)).body;
        const seen = new Set<string>();
        for (let n = 1; n <= nonce; n++) {
          const msg = (
            await getJson<{ id: string } | null>(`${second.url}/messageByNonce/${pid}/${n}`)
          ).body;
          assert.ok(msg, `nonce ${n} of ${pid} has its message (no gap)`);
          assert.ok(!seen.has(msg.id), "no message holds two nonces");
          seen.add(msg.id);
          const res = await waitResult<{ Nonce: string; Data: string }>(second.url, pid, msg.id);
          assert.equal(res.Nonce, String(n));
          assert.ok(
            res.Data.startsWith(`${n}:`),
            `replay kept the order (${res.Data} at nonce ${n})`,
          );
        }
        for (const [id, p] of acked)
          if (p === pid) assert.ok(seen.has(id), `acknowledged ${id} kept its place`);
      }
    } finally {
      second.child.kill("SIGKILL");
    }
  });
}
