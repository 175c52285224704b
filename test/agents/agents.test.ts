import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import WebSocket from "ws";
import { sseEvents } from "../../src/agents/hub-client.js";
import { dockerAgent, type CliRun } from "../helpers/cli.js";
import { testClient, waitFor } from "../helpers/engine.js";
import { startHubProcess } from "../helpers/hub.js";
import { freePort } from "../helpers/ports.js";

// The Docker Agent System end to end: a real hub (the `vmdocker hub` CLI in its own process, so it
// can be killed), real agent containers built from the shipped profiles, driven by `docker-agent`.
const docker = testClient();
const dataDir = mkdtempSync(join(tmpdir(), "vmd-hub-"));
const token = randomBytes(16).toString("hex");
const run = randomBytes(3).toString("hex");
const name = (n: string) => `${n}-${run}`;
let hub: ChildProcess;
let hubLog = "";
let apiPort: number;
let wsPort: number;
let dashboardPort: number;
const created = new Set<string>();

async function startHub(extra: string[] = []): Promise<void> {
  hub = await startHubProcess(
    { apiPort, wsPort, dashboardPort },
    dataDir,
    token,
    (c) => (hubLog += c),
    extra,
  );
}

function killHub(): Promise<void> {
  return new Promise((resolve) => {
    hub.once("exit", () => resolve());
    hub.kill("SIGKILL");
  });
}

const agent = (args: string[]): CliRun =>
  dockerAgent(["--hub", `http://127.0.0.1:${apiPort}`, "--token", token, ...args]);

function ok(r: CliRun): string {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function create(n: string, profile = "builder"): { seconds: number } {
  created.add(n);
  return JSON.parse(ok(agent(["create", n, "--profile", profile, "--json"]))) as {
    seconds: number;
  };
}

before(async () => {
  apiPort = await freePort();
  wsPort = await freePort();
  dashboardPort = await freePort();
  await startHub();
});

after(async () => {
  for (const n of created) agent(["destroy", n, "--volume"]);
  await killHub();
});

test("create, exec, exit codes, task timeout, logs, status: a hardened agent connected to the hub", () => {
  const t1 = name("t1");
  const made = create(t1);
  assert.ok(made.seconds < 60, `connected in ${made.seconds} s`);

  const version = agent(["exec", t1, "node --version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^v24\./);
  assert.equal(agent(["exec", t1, "exit 3"]).code, 3);
  const streams = agent(["exec", t1, "echo to-out; echo to-err >&2"]);
  assert.equal(streams.stdout, "to-out\n");
  assert.equal(streams.stderr, "to-err\n");

  const slow = agent([
    "task",
    t1,
    '{"type":"exec","command":"sleep 10","timeoutMs":300}',
    "--json",
  ]);
  assert.equal(slow.code, 124);
  const record = JSON.parse(slow.stdout) as { status: string; error: string };
  assert.equal(record.status, "timeout");
  assert.match(record.error, /timed out after 300 ms/);

  const files = agent(["task", t1, '{"type":"write_file","path":"notes/a.txt","content":"hello"}']);
  assert.equal(files.code, 0, files.stderr);
  assert.equal(ok(agent(["exec", t1, "cat /workspace/notes/a.txt"])), "hello");
  // The hub refuses it before it is queued: docker-agent's own failure (125), not the command's.
  const bad = agent(["task", t1, '{"type":"teleport"}']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /unknown task type teleport/);

  const logs = ok(agent(["logs", t1, "--tail", "5"]))
    .trim()
    .split("\n");
  assert.ok(logs.length <= 5 && logs.length > 0, logs.join("\n"));
  assert.match(logs.join("\n"), new RegExp(`agent ${t1}`));

  const status = JSON.parse(ok(agent(["status", t1, "--json"]))) as {
    container: { readOnlyRoot: boolean; memoryLimit: number; cpus: number };
    hub: { connected: boolean; health: { memoryBytes: number } | null };
  };
  assert.equal(status.hub.connected, true);
  assert.equal(status.container.readOnlyRoot, true);
  assert.equal(status.container.memoryLimit, 4 * 2 ** 30, "the builder profile's 4g");
  assert.equal(status.container.cpus, 2);

  const readOnly = agent(["exec", t1, "touch /etc/x"]);
  assert.notEqual(readOnly.code, 0, "the root filesystem is read-only");
  assert.equal(ok(agent(["exec", t1, "id -un"])).trim(), "vmd", "not root");
  assert.equal(agent(["exec", t1, "test -e /var/run/docker.sock"]).code, 1, "no engine socket");
});

test("the container is locked down: no capabilities, no new privileges, its own network and volume", async () => {
  const t2 = name("t2");
  create(t2);
  const info = await docker.inspectContainer(`openclaw-agent-${t2}`);
  assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
  assert.ok(info.HostConfig.SecurityOpt?.includes("no-new-privileges:true"));
  assert.equal(info.HostConfig.NetworkMode, "openclaw-agents");
  assert.ok(info.HostConfig.ExtraHosts?.includes("host.docker.internal:host-gateway"));
  const mount = info.Mounts.find((m) => m.Destination === "/workspace");
  assert.equal(mount?.Type, "volume");
  assert.equal(mount?.Name, `openclaw-agent-${t2}`);
  assert.equal(info.HostConfig.PidsLimit, 1024);
  assert.ok(!info.Config.Env?.some((e) => e.includes("docker.sock")));

  // A wrong token is refused (close code 4401) and logged by the hub.
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`);
  const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
  ws.on("open", () =>
    ws.send(JSON.stringify({ type: "hello", agentId: t2, token: "not-the-token", version: "1" })),
  );
  assert.equal(await closed, 4401);
  assert.match(hubLog, new RegExp(`refused agent ${t2}: wrong token`));
});

test("stop and start: the agent reconnects by itself, also after the hub restarts", async () => {
  const t3 = name("t3");
  create(t3);
  ok(agent(["stop", t3]));
  const list = JSON.parse(ok(agent(["list", "--json"]))) as {
    name: string;
    connected: boolean;
    container: string;
  }[];
  const row = list.find((r) => r.name === t3);
  assert.equal(row?.connected, false);
  assert.equal(row?.container, "exited");
  ok(agent(["start", t3]));
  assert.equal(ok(agent(["exec", t3, "echo back"])), "back\n");

  await killHub();
  await startHub();
  await waitFor(
    "the agent to reconnect to the restarted hub",
    async () => {
      const rows = JSON.parse(agent(["list", "--json"]).stdout || "[]") as {
        name: string;
        connected: boolean;
      }[];
      return rows.find((r) => r.name === t3)?.connected || undefined;
    },
    30_000,
  );
});

test("a task queued for an offline agent survives a hub crash and runs exactly once", async () => {
  const t4 = name("t4");
  create(t4);
  ok(agent(["stop", t4]));
  const queued = JSON.parse(
    ok(
      agent([
        "task",
        t4,
        '{"type":"exec","command":"echo ran >> /workspace/count"}',
        "--no-wait",
        "--json",
      ]),
    ),
  ) as { id: string; status: string };
  assert.equal(queued.status, "queued");
  await killHub();
  await startHub();
  ok(agent(["start", t4]));
  await waitFor(
    "the queued task to finish",
    () =>
      fetch(`http://127.0.0.1:${apiPort}/tasks/${queued.id}`, {
        headers: { authorization: `Bearer ${token}` },
      })
        .then((r) => r.json() as Promise<{ status: string }>)
        .then((t) => (t.status === "succeeded" ? t : undefined)),
    30_000,
  );
  // The hub restarting again resends nothing that already ran.
  await killHub();
  await startHub();
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(ok(agent(["exec", t4, "wc -l < /workspace/count"])).trim(), "1");
});

test("snapshot, destroy, restore: the file written in the agent comes back; destroy keeps the volume unless --volume", async () => {
  const t5 = name("t5");
  create(t5);
  ok(agent(["exec", t5, "echo kept > /workspace/file.txt"]));
  const snap = JSON.parse(ok(agent(["snapshot", t5, "s1", "--json"]))) as {
    reference: string;
    commitMs: number;
    totalMs: number;
  };
  assert.equal(snap.reference, `openclaw-agent-snapshot-${t5}:s1`);
  console.log(`# snapshot: commit ${snap.commitMs} ms, with the workspace ${snap.totalMs} ms`);
  assert.match(ok(agent(["snapshots", t5])), /:s1/);

  ok(agent(["destroy", t5]));
  assert.equal(await docker.findContainer(`openclaw-agent-${t5}`), null);
  assert.ok(await docker.volumeExists(`openclaw-agent-${t5}`), "destroy keeps the volume");
  ok(agent(["restore", t5, "s1"]));
  assert.equal(ok(agent(["exec", t5, "cat /workspace/file.txt"])), "kept\n");

  ok(agent(["destroy", t5, "--volume"]));
  assert.equal(await docker.volumeExists(`openclaw-agent-${t5}`), false, "--volume removes it");
  await docker.removeImage(snap.reference, true).catch(() => {});
});

test("errors: unknown agent, unknown profile, bad JSON task, hub down: one line with the fix, exit 125", () => {
  const unknown = agent(["exec", name("nope"), "true"]);
  assert.equal(unknown.code, 125, "docker-agent's own error, not the command's exit 1");
  assert.match(unknown.stderr, /^docker-agent: no agent nope-\w+ .*\(fix: docker-agent list/);
  const profile = agent(["create", name("x"), "--profile", "astronaut"]);
  assert.match(
    profile.stderr,
    /no profile astronaut \(fix: use one of: builder, deployer, docker-host, researcher, tester/,
  );
  const json = agent(["task", name("t1"), "{not json"]);
  assert.match(json.stderr, /the task is not JSON/);
  const down = dockerAgent(["--hub", "http://127.0.0.1:9", "--token", token, "list"]);
  assert.match(
    down.stderr,
    /no hub answers at http:\/\/127.0.0.1:9 \(fix: start it with `vmdocker hub`/,
  );
  const badName = agent(["create", "Bad Name"]);
  assert.match(badName.stderr, /Bad Name is not an agent name/);
  assert.deepEqual(
    [profile, json, down, badName].map((r) => r.code),
    [125, 125, 125, 125],
  );
});

test("behind a TLS-intercepting proxy (this machine), HTTPS works in the agent only with the CA bundle", () => {
  const bundle = process.env.NODE_EXTRA_CA_CERTS ?? "/etc/ssl/certs/ca-certificates.crt";
  const fetchNpm = `node -e "fetch('https://registry.npmjs.org/ws').then(r => console.log(r.status), e => { console.log(e.cause?.code ?? e.message); process.exit(7) })"`;
  const withCa = name("ca");
  created.add(withCa);
  ok(agent(["create", withCa, "--ca-bundle", bundle]));
  const good = agent(["exec", withCa, fetchNpm]);
  assert.equal(good.stdout.trim(), "200", good.stderr);
  const without = name("noca");
  created.add(without);
  ok(agent(["create", without, "--no-ca-bundle"]));
  const bad = agent(["exec", without, fetchNpm]);
  assert.equal(bad.code, 7, "without the proxy's CA the certificate is refused");
  assert.match(bad.stdout, /CERT|certificate/i);
});

test("the hub's event stream (/events, for dashboards) needs the token and shows an agent connect and its task from queued to finished", async () => {
  const url = `http://127.0.0.1:${apiPort}/events`;
  assert.equal((await fetch(url)).status, 401);
  // vmdocker hub serves the dashboard beside it, behind its own login.
  const dashboard = `http://127.0.0.1:${dashboardPort}`;
  assert.equal((await fetch(`${dashboard}/login`)).status, 200);
  assert.equal((await fetch(`${dashboard}/api/events`)).status, 401);
  const stop = new AbortController();
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    signal: stop.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events: { event: string; data: Record<string, unknown> }[] = [];
  const reading = (async () => {
    for await (const { event, data } of sseEvents(res.body!))
      events.push({ event, data: data as Record<string, unknown> });
  })().catch(() => {});
  const t6 = name("t6");
  create(t6);
  assert.equal(ok(agent(["exec", t6, "echo evented"])), "evented\n");
  const kinds = await waitFor(
    "the task's events",
    async () => {
      const mine = events.filter(
        (e) =>
          e.data.agent === t6 ||
          (e.data.task as { agent?: string } | undefined)?.agent === t6 ||
          (e.event === "task.output" && e.data.data === "evented\n"),
      );
      const seen = mine.map((e) => e.event);
      return seen.includes("task.finished") ? seen : undefined;
    },
    15_000,
  );
  stop.abort();
  await reading;
  for (const kind of ["agent.created", "agent.connected", "task.queued", "task.output"])
    assert.ok(kinds.includes(kind), `${kind} in ${kinds.join(", ")}`);
  assert.ok(
    kinds.indexOf("task.queued") < kinds.indexOf("task.finished"),
    "queued before finished",
  );
});

test("20 agents from one profile, all connected; mean memory per agent reported", async () => {
  const names = Array.from({ length: 20 }, (_, i) => name(`d${i}`));
  const started = Date.now();
  for (const n of names) create(n);
  const seconds = (Date.now() - started) / 1000;
  const rows = JSON.parse(ok(agent(["list", "--json"]))) as { name: string; connected: boolean }[];
  for (const n of names)
    assert.equal(rows.find((r) => r.name === n)?.connected, true, `${n} connected`);
  const usage = await Promise.all(
    names.map(async (n) => {
      const s = await docker.stats(`openclaw-agent-${n}`);
      const m = s.memory_stats as { usage?: number; stats?: Record<string, number> };
      return (m.usage ?? 0) - (m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0);
    }),
  );
  const meanMB = usage.reduce((a, b) => a + b, 0) / usage.length / 2 ** 20;
  console.log(
    `# 20 agents created in ${seconds.toFixed(1)} s; mean memory per agent ${meanMB.toFixed(1)} MB`,
  );
  assert.ok(meanMB > 1, "the stats are real");
  for (const n of names) {
    ok(agent(["destroy", n, "--volume"]));
    created.delete(n);
  }
  assert.ok(readFileSync(join(dataDir, "hub.db")).length > 0);
});

test("with Redis as the hub's store, a queued task also survives a hub crash and runs once", async () => {
  const url = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/10`;
  const r = new Redis(url);
  await r.flushdb();
  r.disconnect();
  await killHub();
  await startHub(["--redis-url", url]);
  try {
    const health = (await (await fetch(`http://127.0.0.1:${apiPort}/health`)).json()) as {
      store: string;
    };
    assert.equal(health.store, "redis");
    const r1 = name("r1");
    create(r1);
    ok(agent(["stop", r1]));
    const queued = JSON.parse(
      ok(
        agent([
          "task",
          r1,
          '{"type":"exec","command":"echo ran >> /workspace/count"}',
          "--no-wait",
          "--json",
        ]),
      ),
    ) as { id: string };
    await killHub();
    await startHub(["--redis-url", url]);
    ok(agent(["start", r1]));
    const done = JSON.parse(ok(agent(["exec", r1, "sleep 0.5; wc -l < /workspace/count"])));
    assert.equal(done, 1);
    const t = (await (
      await fetch(`http://127.0.0.1:${apiPort}/tasks/${queued.id}`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as { status: string; deliveries: number };
    assert.equal(t.status, "succeeded");
    ok(agent(["destroy", r1, "--volume"]));
    created.delete(r1);
  } finally {
    await killHub();
    await startHub();
  }
});
