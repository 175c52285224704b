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

for (const [kind, make] of stores) {
  test(`${kind}: task pages across agents filter by agent and state, count them all, and feed task metrics`, async () => {
    const s = await make();
    try {
      for (const a of ["p1", "p2"]) await s.addAgent({ name: a, profile: "builder", tokenHash: a });
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
        ids.push(id);
        await s.addTask(id, i % 3 === 0 ? "p1" : "p2", { id, type: "exec", command: `echo ${i}` });
      }
      const t0 = Date.now();
      // 0..9 succeed (100 ms each), 10..14 fail, 15..19 run, 20..29 stay queued.
      for (let i = 0; i < 20; i++) {
        await s.dispatched(ids[i]!);
        await s.started(ids[i]!, t0);
      }
      for (let i = 0; i < 15; i++)
        await s.finish(ids[i]!, {
          status: i < 10 ? "succeeded" : "failed",
          exitCode: i < 10 ? 0 : 2,
          output: "x".repeat(100),
          finishedAt: t0 + 100,
        });

      const all = await s.listTasks({ offset: 0, limit: 10 });
      assert.equal(all.total, 30);
      assert.deepEqual(
        all.tasks.map((t) => t.id),
        ids.slice(20).reverse(),
        "newest first",
      );
      assert.equal(all.tasks[0]!.command, "echo 29");
      assert.ok(!("output" in all.tasks[0]!), "pages carry no output");
      const page3 = await s.listTasks({ offset: 20, limit: 10 });
      assert.deepEqual(
        page3.tasks.map((t) => t.id),
        ids.slice(0, 10).reverse(),
      );
      const failed = await s.listTasks({ statuses: ["failed"], offset: 0, limit: 50 });
      assert.equal(failed.total, 5);
      assert.ok(failed.tasks.every((t) => t.status === "failed" && t.exitCode === 2));
      const active = await s.listTasks({
        statuses: ["queued", "dispatched", "running"],
        offset: 0,
        limit: 50,
      });
      assert.equal(active.total, 15);
      const p1Running = await s.listTasks({
        agent: "p1",
        statuses: ["running"],
        offset: 0,
        limit: 50,
      });
      assert.deepEqual(
        p1Running.tasks.map((t) => t.id),
        [ids[18]!, ids[15]!],
      );
      assert.equal((await s.listTasks({ agent: "p1", offset: 0, limit: 1 })).total, 10);

      assert.deepEqual(await s.countByStatus(), {
        succeeded: 10,
        failed: 5,
        running: 5,
        queued: 10,
      });
      const done = await s.finishedSince(t0 - 1000);
      assert.equal(done.length, 15);
      assert.ok(done.every((d) => d.durationMs === 100 && d.finishedAt === t0 + 100));
      assert.equal(done.filter((d) => d.status === "succeeded").length, 10);
      assert.equal((await s.finishedSince(t0 + 101)).length, 0);
    } finally {
      await s.close();
    }
  });
}

test("redis: a hub store that cannot connect fails at start with the fix", async () => {
  const s = new RedisHubStore("redis://127.0.0.1:9/0");
  await assert.rejects(s.connect(1000), /Redis at redis:\/\/127.0.0.1:9\/0 does not answer.*/);
});
