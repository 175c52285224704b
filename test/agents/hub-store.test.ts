import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Redis } from "ioredis";
import { RedisHubStore } from "../../src/agents/hub/redis-store.js";
import { SqliteHubStore, type HubStore } from "../../src/agents/hub/store.js";

// The same contract against the embedded SQLite file and a real Redis (started by host setup).
const REDIS_URL = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/11`;

const stores: [string, () => Promise<HubStore>][] = [
  [
    "sqlite",
    async () => new SqliteHubStore(join(mkdtempSync(join(tmpdir(), "vmd-hubstore-")), "hub.db")),
  ],
  [
    "redis",
    async () => {
      const r = new Redis(REDIS_URL);
      await r.flushdb();
      r.disconnect();
      const s = new RedisHubStore(REDIS_URL);
      await s.connect();
      return s;
    },
  ],
];

for (const [kind, make] of stores) {
  test(`${kind}: agents with hashed tokens, health, removal`, async () => {
    const s = await make();
    try {
      assert.equal(await s.addAgent({ name: "a1", profile: "builder", tokenHash: "aa" }), true);
      assert.equal(
        await s.addAgent({ name: "a1", profile: "tester", tokenHash: "bb" }),
        false,
        "names are unique",
      );
      await s.addAgent({ name: "a0", profile: "tester", tokenHash: "cc" });
      assert.deepEqual(
        (await s.agents()).map((a) => a.name),
        ["a0", "a1"],
      );
      await s.setToken("a1", "dd");
      const health = {
        cpuPercent: 1,
        memoryBytes: 2,
        memoryLimitBytes: null,
        diskUsedBytes: 3,
        diskTotalBytes: 4,
        uptimeSeconds: 5,
      };
      await s.seen("a1", health);
      const a1 = (await s.agent("a1"))!;
      assert.equal(a1.tokenHash, "dd");
      assert.equal(a1.profile, "builder");
      assert.deepEqual(a1.health, health);
      assert.ok(a1.lastSeen! > 0);
      await s.removeAgent("a0");
      assert.equal(await s.agent("a0"), undefined);
    } finally {
      await s.close();
    }
  });

  test(`${kind}: the queue keeps order, finishes once, and forgets finished tasks when resending`, async () => {
    const s = await make();
    try {
      await s.addAgent({ name: "q", profile: "builder", tokenHash: "aa" });
      const t1 = await s.addTask("t1", "q", { id: "t1", type: "exec", command: "one" });
      await s.addTask("t2", "q", { id: "t2", type: "exec", command: "two" });
      await s.addTask("t3", "q", { id: "t3", type: "exec", command: "three" });
      assert.equal(t1.status, "queued");
      assert.deepEqual(
        (await s.pending("q")).map((t) => t.id),
        ["t1", "t2", "t3"],
      );
      await s.dispatched("t1");
      await s.dispatched("t1");
      await s.started("t1", 100);
      assert.equal((await s.task("t1"))!.deliveries, 2);
      assert.equal((await s.task("t1"))!.status, "running");
      const done = { status: "succeeded" as const, exitCode: 0, output: "ok\n", finishedAt: 200 };
      assert.equal(await s.finish("t1", done), true);
      assert.equal(await s.finish("t1", { ...done, status: "failed", exitCode: 1 }), false, "once");
      await s.started("t1", 300);
      const t = (await s.task("t1"))!;
      assert.equal(t.status, "succeeded");
      assert.equal(t.exitCode, 0);
      assert.equal(t.startedAt, 100);
      assert.equal(t.output, "ok\n");
      await s.finish("t2", {
        status: "timeout",
        exitCode: null,
        output: "",
        error: "timed out",
        startedAt: 150,
        finishedAt: 250,
      });
      const t2 = (await s.task("t2"))!;
      assert.equal(t2.exitCode, null);
      assert.equal(t2.error, "timed out");
      assert.equal(t2.startedAt, 150);
      assert.deepEqual(
        (await s.pending("q")).map((x) => x.id),
        ["t3"],
      );
      assert.deepEqual(
        (await s.tasks("q", 2)).map((x) => x.id),
        ["t3", "t2"],
        "newest first",
      );
      assert.equal(await s.task("nope"), undefined);
    } finally {
      await s.close();
    }
  });
}

test("redis: a hub store that cannot connect fails at start with the fix", async () => {
  const s = new RedisHubStore("redis://127.0.0.1:9/0");
  await assert.rejects(s.connect(1000), /Redis at redis:\/\/127.0.0.1:9\/0 does not answer.*/);
});
