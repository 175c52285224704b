import assert from "node:assert/strict";
import { test } from "node:test";
import Fastify from "fastify";
import { taskMetrics } from "../../src/agents/hub/metrics.js";
import { OutputTail } from "../../src/agents/hub/output-tail.js";
import { agentRows, agentStatus } from "../../src/dashboard/agents.js";
import { cookie, loginPage, Sessions } from "../../src/dashboard/auth.js";
import { botCounts, parseBots } from "../../src/dashboard/bots.js";
import { ago, axisLabels, bytes, duration } from "../../src/dashboard/format.js";
import { EventLog } from "../../src/sys/sse.js";

// The shape `vm-ctl list --json` prints (the contract with the microVM issue).
const bots = [
  {
    id: "t2",
    state: "stopped",
    vmm: "qemu",
    accel: "tcg",
    network: "user",
    ip: null,
    hostPort: 18790,
    health: "unknown",
    pid: null,
    vcpu: 1,
    memMib: 512,
    model: null,
    createdAt: "2026-11-20T10:00:00.000Z",
  },
  {
    id: "t1",
    state: "running",
    vmm: "firecracker",
    accel: "kvm",
    network: "bridge",
    ip: "172.16.0.2",
    hostPort: 18789,
    health: "ok",
    pid: 4242,
    vcpu: 2,
    memMib: 2048,
    model: "anthropic/claude-sonnet-4",
    createdAt: "2026-11-21T10:00:00.000Z",
    extra: "ignored",
  },
];

test("bots: vm-ctl list --json in the agreed shape is parsed, sorted by id and counted", () => {
  const parsed = parseBots(JSON.stringify(bots));
  assert.deepEqual(
    parsed.map((b) => b.id),
    ["t1", "t2"],
  );
  assert.equal(parsed[0]!.vmm, "firecracker");
  assert.equal(parsed[0]!.accel, "kvm");
  assert.equal(parsed[1]!.ip, null);
  assert.ok(!("extra" in parsed[0]!), "fields beyond the contract are dropped");
  assert.deepEqual(botCounts(parsed), { total: 2, running: 1, healthy: 1 });
  assert.deepEqual(parseBots("[]"), []);
});

test("bots: output that breaks the contract names the field, and non-JSON says so", () => {
  assert.throws(() => parseBots(JSON.stringify([{ ...bots[0], state: "exploded" }])), /0\.state/);
  assert.throws(() => parseBots(JSON.stringify([{ ...bots[0], hostPort: "x" }])), /hostPort/);
  assert.throws(() => parseBots("vm-ctl: command not found"), /not JSON/);
});

test("agents: status from the hub's connection and the engine's container state", () => {
  const now = 1_000_000;
  assert.equal(agentStatus(true, { state: "running", startedAt: 0 }, now, false), "connected");
  assert.equal(agentStatus(false, { state: "exited", startedAt: 0 }, now, false), "stopped");
  assert.equal(agentStatus(false, { state: "created", startedAt: 0 }, now, false), "stopped");
  assert.equal(
    agentStatus(false, { state: "running", startedAt: now - 5000 }, now, false),
    "starting",
  );
  assert.equal(
    agentStatus(false, { state: "running", startedAt: now - 120_000 }, now, false),
    "disconnected",
  );
  assert.equal(agentStatus(false, { state: "exited", startedAt: 0 }, now, true), "starting");
  assert.equal(agentStatus(false, undefined, now, false), "disconnected");

  const health = {
    cpuPercent: 3,
    memoryBytes: 50e6,
    memoryLimitBytes: 1e9,
    diskUsedBytes: 1e6,
    diskTotalBytes: 1e9,
    uptimeSeconds: 100,
  };
  const rows = agentRows(
    [
      {
        name: "b",
        profile: "builder",
        connected: true,
        createdAt: 1,
        lastSeen: now - 10_000,
        health,
      },
    ],
    new Map([
      ["b", { state: "running", startedAt: 0, profile: "builder" }],
      ["a", { state: "exited", startedAt: 0, profile: "tester" }],
    ]),
    new Set(),
    now,
  );
  assert.deepEqual(
    rows.map((r) => [r.name, r.status, r.profile, r.container]),
    [
      ["a", "stopped", "tester", "exited"],
      ["b", "connected", "builder", "running"],
    ],
  );
  assert.equal(rows[1]!.uptimeSeconds, 110, "uptime runs on from the last report");
  assert.equal(rows[0]!.uptimeSeconds, null);
});

test("task metrics: rate, success ratio and nearest-rank p50/p95 over the window and per bucket", () => {
  const now = 10 * 60_000;
  const rows = [
    ...Array.from({ length: 18 }, (_, i) => ({
      status: "succeeded" as const,
      finishedAt: now - 30_000 - i,
      durationMs: (i + 1) * 10,
    })),
    { status: "failed" as const, finishedAt: now - 90_000, durationMs: 1000 },
    { status: "timeout" as const, finishedAt: now - 90_000, durationMs: 2000 },
    { status: "succeeded" as const, finishedAt: now - 11 * 60_000, durationMs: 5 },
  ];
  const m = taskMetrics(rows, { running: 2 }, now, 5 * 60_000, 60_000);
  assert.equal(m.finished, 20, "the one before the window is left out");
  assert.equal(m.succeeded, 18);
  assert.equal(m.failed, 2);
  assert.equal(m.successRatio, 0.9);
  assert.equal(m.ratePerMin, 4);
  assert.equal(m.p50Ms, 100);
  assert.equal(m.p95Ms, 1000);
  assert.equal(m.buckets.length, 5);
  assert.deepEqual(
    m.buckets.map((b) => [b.succeeded, b.failed]),
    [
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 2],
      [18, 0],
    ],
  );
  assert.equal(m.buckets[4]!.p95Ms, 180);
  assert.equal(m.buckets[0]!.p50Ms, null);
  assert.deepEqual(m.states, { running: 2 });
});

test("event log: a reconnecting client gets exactly what it missed, or a reset once it is gone", () => {
  const log = new EventLog(3, 100);
  const seen: number[] = [];
  const off = log.subscribe((e) => seen.push(e.id ?? -1));
  for (let i = 0; i < 5; i++) log.push("x", i);
  log.broadcast("bulky", "not kept");
  off();
  assert.deepEqual(seen, [100, 101, 102, 103, 104, -1]);
  assert.deepEqual(
    log.since(102)!.map((e) => e.data),
    [3, 4],
  );
  assert.deepEqual(
    log.since(101)!.map((e) => e.data),
    [2, 3, 4],
  );
  assert.deepEqual(log.since(104), []);
  assert.equal(log.since(100), null, "101 fell out of the ring");
  assert.equal(log.since(50), null, "an id from before a restart");
  assert.equal(log.since(900), null, "an id from the future");
});

test("format and cookies: units, durations, ages; a session cookie read among others", () => {
  assert.equal(bytes(1536), "1.5 KiB");
  assert.equal(bytes(50 * 2 ** 20), "50.0 MiB");
  assert.equal(bytes(null), "–");
  assert.equal(duration(850), "850 ms");
  assert.equal(duration(12_300), "12.3 s");
  assert.equal(duration(245_000), "4m 05s");
  assert.equal(duration(3 * 3600_000 + 120_000), "3h 02m");
  assert.equal(ago(1000, 1500), "just now");
  assert.equal(ago(0, 1500), "never");
  assert.equal(ago(1000, 11_000), "10 s ago");
  assert.equal(cookie("a=1; vmd_session=abc; b=2", "vmd_session"), "abc");
  assert.equal(cookie("xvmd_session=abc", "vmd_session"), undefined);
  assert.equal(cookie(undefined, "vmd_session"), undefined);
});

test("output tail: keeps the latest characters of a task's output, counts what it dropped, joins neighbours of one stream", () => {
  const tail = new OutputTail(10);
  tail.push({ stream: "stdout", data: "abc" });
  tail.push({ stream: "stdout", data: "def" });
  tail.push({ stream: "stderr", data: "gh" });
  assert.deepEqual(tail.merged(), [
    { stream: "stdout", data: "abcdef" },
    { stream: "stderr", data: "gh" },
  ]);
  tail.push({ stream: "stdout", data: "ijklm" });
  assert.equal(tail.chars, 10);
  assert.equal(tail.dropped, 3);
  assert.equal(
    tail
      .all()
      .map((c) => c.data)
      .join(""),
    "defghijklm",
  );
  assert.equal(tail.all()[0]!.stream, "stdout", "a chunk cut in two keeps its stream");
  tail.push({ stream: "stdout", data: "0123456789ABC" });
  assert.deepEqual(tail.all(), [{ stream: "stdout", data: "3456789ABC" }]);
  assert.equal(tail.dropped, 16);

  // A million one-character chunks stay bounded (the dropped ones are compacted away).
  const big = new OutputTail(1000);
  for (let i = 0; i < 1_000_000; i++) big.push({ stream: "stdout", data: String(i % 10) });
  assert.equal(big.chars, 1000);
  assert.equal(big.dropped, 999_000);
  assert.equal(big.all().length, 1000);
  assert.equal(big.merged().length, 1);
  assert.equal(big.merged()[0]!.data.slice(-3), "789", "the latest characters are the ones kept");
});

test("axis labels: one unit per axis and enough decimals that no two ticks read alike", () => {
  const gib = 2 ** 30;
  const mib = 2 ** 20;
  // A disk at 46.1 GiB moving by megabytes: "46.1 GiB" twice before.
  const disk = axisLabels([46.1 * gib, 46.1 * gib + 2 * mib, 46.1 * gib + 4 * mib], "bytes");
  assert.equal(new Set(disk).size, 3, disk.join(", "));
  assert.deepEqual(axisLabels([0, 50 * mib, 100 * mib], "bytes"), ["0 MiB", "50 MiB", "100 MiB"]);
  // Finished per minute with at most 1: "0, 1, 1" before.
  assert.deepEqual(axisLabels([0, 0.5, 1], "count"), ["0", "", "1"]);
  assert.deepEqual(axisLabels([0, 1000, 2000], "count"), ["0", "1,000", "2,000"]);
  // A busy host between 99.6 and 100%: "100%" three times before.
  assert.deepEqual(axisLabels([99.6, 99.8, 100], "percent"), ["99.6%", "99.8%", "100.0%"]);
  assert.deepEqual(axisLabels([0, 50, 100], "percent"), ["0%", "50%", "100%"]);
  assert.deepEqual(axisLabels([0, 10_000, 20_000], "ms"), ["0 s", "10 s", "20 s"]);
  assert.deepEqual(axisLabels([0, 200, 400], "ms"), ["0 ms", "200 ms", "400 ms"]);
});

test("sessions: signing out or expiring ends the session's open streams; the login page escapes where the token is", async () => {
  let now = 1_000_000;
  const logs: string[] = [];
  const sessions = new Sessions(
    "right-token",
    (l) => logs.push(l),
    () => now,
    "/srv/<hub>/token",
  );
  const app = Fastify();
  sessions.register(app);
  const login = async () => {
    const res = await app.inject({
      method: "POST",
      url: "/login",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "token=right-token",
    });
    assert.equal(res.statusCode, 303);
    return String(res.headers["set-cookie"]).split(";")[0]!;
  };
  const as = (c: string) => ({ headers: { cookie: c } }) as Parameters<Sessions["onEnd"]>[0];

  const first = await login();
  let ended = 0;
  sessions.onEnd(as(first), () => ended++);
  const unbind = sessions.onEnd(as(first), () => ended++);
  unbind();
  await app.inject({ method: "POST", url: "/logout", headers: { cookie: first } });
  assert.equal(ended, 1, "sign-out ends the session's stream (and only the one still open)");
  assert.equal(sessions.valid(as(first) as never), false);

  const second = await login();
  let expired = 0;
  sessions.onEnd(as(second), () => expired++);
  sessions.sweep();
  assert.equal(expired, 0);
  now += 13 * 3600_000;
  sessions.sweep();
  assert.equal(expired, 1, "an expired session's stream ends at the next sweep");

  let refused = 0;
  sessions.onEnd(as("vmd_session=made-up"), () => refused++);
  assert.equal(refused, 1, "a stream without a live session ends at once");

  const page = (await app.inject({ method: "GET", url: "/login" })).body;
  assert.match(page, /\/srv\/&lt;hub&gt;\/token/);
  assert.doesNotMatch(page, /<hub>/);
  assert.match(loginPage("Wrong <token>."), /Wrong &lt;token&gt;\./);
  await app.close();
});
