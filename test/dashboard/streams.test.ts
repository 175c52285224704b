import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { startHub } from "../../src/agents/hub/start.js";
import { startNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import type { ProcessRow } from "../../src/node/process-row.js";
import { sseEvents } from "../../src/sys/sse.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { messageItem, post, spawnItem, waitResult } from "../helpers/client.js";
import { ECHO_FORMAT, echoFactory, writeEchoModule } from "../helpers/echo-vm.js";
import { freePort } from "../helpers/ports.js";

// The read routes consoles use on the node (/vmd/processes, /vmd/events) and the hub's numbered
// /events: what they list, catch-up with Last-Event-ID, and shutting down with clients attached.

type Ev = { event: string; data: Record<string, unknown>; id?: number };

/** Reads events from `url` into `into` until aborted. */
function collect(url: string, into: Ev[], headers: Record<string, string> = {}) {
  const stop = new AbortController();
  const done = fetch(url, { headers, signal: stop.signal })
    .then(async (res) => {
      assert.equal(res.status, 200);
      for await (const e of sseEvents(res.body!)) into.push(e as Ev);
    })
    .catch(() => {});
  return { stop: () => stop.abort(), done };
}

async function until<T>(what: string, fn: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("node: /vmd/processes lists a process with its module, backend, nonce and rate; /vmd/events streams its activity, replays what a reconnecting client missed, and the node still shuts down with a client attached", async () => {
  const base = mkdtempSync(join(tmpdir(), "vmd-streams-"));
  const moduleId = await writeEchoModule(base);
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, echoFactory);
  const running = await startNode(
    loadConfig(undefined, { VMDOCKER_PORT: ":0", VMDOCKER_CORE_PROCESSES: "false" }),
    { baseDir: base, vms, log: () => {} },
  );
  const url = running.url;
  const events: Ev[] = [];
  const first = collect(`${url}/vmd/events`, events);
  await until("hello", () => events.some((e) => e.event === "hello"));

  const spawn = spawnItem(moduleId, running.node.address);
  const pid = (await post(url, spawn)).body.id!;
  await waitResult(url, pid, pid);
  for (const d of ["a", "b", "c"]) {
    const id = (await post(url, messageItem(pid, d))).body.id!;
    await waitResult(url, pid, id);
  }
  await until("three results", () =>
    events.filter((e) => e.event === "process.result" && e.data.nonce !== 0).length === 3
      ? true
      : undefined,
  );
  assert.deepEqual(
    events.filter((e) => e.event === "process.message").map((e) => [e.data.pid, e.data.nonce]),
    [
      [pid, 1],
      [pid, 2],
      [pid, 3],
    ],
  );
  assert.ok(events.some((e) => e.event === "process.spawned" && e.data.pid === pid));

  const page = (await (await fetch(`${url}/vmd/processes?limit=10`)).json()) as {
    total: number;
    running: number;
    processes: ProcessRow[];
  };
  assert.equal(page.total, 1);
  assert.equal(page.running, 1);
  const row = page.processes[0]!;
  assert.equal(row.pid, pid);
  assert.equal(row.module, moduleId);
  assert.equal(row.moduleFormat, ECHO_FORMAT);
  assert.equal(row.backend, "in-process");
  assert.equal(row.nonce, 3);
  assert.equal(row.messagesPerMinute, 3);
  assert.equal(row.owner.toLowerCase(), spawn.address.toLowerCase());
  assert.equal((await fetch(`${url}/vmd/processes?limit=0`)).status, 400);

  // A client that left after the second message gets the rest, in order, when it comes back.
  first.stop();
  const second = events.find((e) => e.event === "process.message" && e.data.nonce === 2)!;
  const replay: Ev[] = [];
  const again = collect(`${url}/vmd/events`, replay, { "last-event-id": String(second.id) });
  await until("the replay", () => (replay.length >= 3 ? true : undefined));
  assert.deepEqual(
    replay.map((e) => e.id),
    events.filter((e) => e.id! > second.id!).map((e) => e.id),
  );
  const stale: Ev[] = [];
  const old = collect(`${url}/vmd/events`, stale, { "last-event-id": "5" });
  await until("a reset", () => (stale[0]?.event === "reset" ? true : undefined));

  const t = Date.now();
  await running.close();
  assert.ok(Date.now() - t < 5000, "close does not wait for attached clients");
  await Promise.all([again.done, old.done]);
});

test("hub: /events is numbered, replays from Last-Event-ID, and the hub closes with a client attached", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-hubev-"));
  const hub = await startHub({
    wsPort: 0,
    httpPort: 0,
    wsHosts: ["127.0.0.1"],
    httpHost: "127.0.0.1",
    db: join(dir, "hub.db"),
    tokenFile: join(dir, "token"),
    log: () => {},
  });
  const auth = { authorization: `Bearer ${hub.token}` };
  const events: Ev[] = [];
  const live = collect(`${hub.apiURL}/events`, events, auth);
  await until("hello", () => (events[0]?.event === "hello" ? true : undefined));
  for (const name of ["e1", "e2", "e3"])
    await fetch(`${hub.apiURL}/agents`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name, profile: "builder" }),
    });
  await until("three agents", () =>
    events.filter((e) => e.event === "agent.created").length === 3 ? true : undefined,
  );
  const firstCreated = events.find((e) => e.event === "agent.created")!;
  const replay: Ev[] = [];
  const again = collect(`${hub.apiURL}/events`, replay, {
    ...auth,
    "last-event-id": String(firstCreated.id),
  });
  await until("the replay", () => (replay.length === 2 ? true : undefined));
  assert.deepEqual(
    replay.map((e) => e.data.agent),
    ["e2", "e3"],
  );
  // A week in one-second buckets (604,800 of them) held the hub for seconds: refused at once.
  const tooFine = await fetch(`${hub.apiURL}/tasks/metrics?windowMs=604800000&bucketMs=1000`, {
    headers: auth,
  });
  assert.equal(tooFine.status, 400);
  assert.match(((await tooFine.json()) as { message: string }).message, /bucketMs.*10,080/);
  const week = await fetch(`${hub.apiURL}/tasks/metrics?windowMs=604800000&bucketMs=60000`, {
    headers: auth,
  });
  assert.equal(((await week.json()) as { buckets: unknown[] }).buckets.length, 10_080);
  const t = Date.now();
  await hub.close();
  assert.ok(Date.now() - t < 5000, "close does not wait for attached clients");
  await Promise.all([live.done, again.done]);
});

test("vmdocker hub with no engine answering: the dashboard shows the engine down at its address (not 'no engine configured'); --no-dashboard serves none", async () => {
  const cli = fileURLToPath(new URL("../../src/cli/vmdocker.js", import.meta.url));
  const socket = join(mkdtempSync(join(tmpdir(), "vmd-noengine-")), "docker.sock");
  const token = "t".repeat(32);
  const start = async (extra: string[]) => {
    const [ws, api, dash] = [await freePort(), await freePort(), await freePort()];
    const dataDir = mkdtempSync(join(tmpdir(), "vmd-hubcli-"));
    let log = "";
    const child = spawn(
      process.execPath,
      [cli, "hub", "--ws-port", String(ws), "--http-port", String(api)].concat([
        "--dashboard-port",
        String(dash),
        "--data-dir",
        dataDir,
        ...extra,
      ]),
      {
        env: { ...process.env, DOCKER_HOST: `unix://${socket}`, HUB_TOKEN: token },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout.on("data", (c: Buffer) => (log += c.toString()));
    child.stderr.on("data", (c: Buffer) => (log += c.toString()));
    const exited = new Promise((r) => child.once("exit", r));
    await until(
      "the hub",
      () => /hub \(store/.test(log) && (extra.length || /dashboard on/.test(log)),
    );
    return { dash, log: () => log, stop: () => (child.kill("SIGINT"), exited) };
  };

  const hub = await start([]);
  try {
    assert.match(hub.log(), new RegExp(`no Docker engine answers at unix://${socket}`));
    const url = `http://127.0.0.1:${hub.dash}`;
    const login = await fetch(`${url}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `token=${token}`,
      redirect: "manual",
    });
    const session = String(login.headers.get("set-cookie")).split(";")[0]!;
    let engine: { status: string; detail: string } | undefined;
    const deadline = Date.now() + 15_000;
    while (!engine && Date.now() < deadline) {
      const o = (await (
        await fetch(`${url}/api/overview`, { headers: { cookie: session } })
      ).json()) as {
        checks: { name: string; status: string; detail: string }[];
      };
      engine = o.checks.find((c) => c.name === "engine");
      if (!engine) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(engine?.status, "down", JSON.stringify(engine));
    assert.match(engine.detail, new RegExp(socket.replace(/[.]/g, "\\.")));
  } finally {
    await hub.stop();
  }

  const bare = await start(["--no-dashboard"]);
  try {
    assert.doesNotMatch(bare.log(), /dashboard on/);
    await assert.rejects(
      fetch(`http://127.0.0.1:${bare.dash}/login`),
      "nothing listens on the dashboard's port",
    );
  } finally {
    await bare.stop();
  }
});
