import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startHub } from "../../src/agents/hub/start.js";
import { startNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import type { ProcessRow } from "../../src/node/process-row.js";
import { sseEvents } from "../../src/sys/sse.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { messageItem, post, spawnItem, waitResult } from "../helpers/client.js";
import { ECHO_FORMAT, echoFactory, writeEchoModule } from "../helpers/echo-vm.js";

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
  const t = Date.now();
  await hub.close();
  assert.ok(Date.now() - t < 5000, "close does not wait for attached clients");
  await Promise.all([live.done, again.done]);
});
