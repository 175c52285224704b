import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { hintOf } from "../../src/error-codes.js";
import { dockerAgent } from "../helpers/cli.js";
import { paths, testClient, uniqueName } from "../helpers/engine.js";
import { startHubProcess } from "../helpers/hub.js";
import { freePort } from "../helpers/ports.js";

// The hub as a user reaches it (the `vmdocker hub` CLI in its own process): what its HTTP API
// answers for requests that are wrong.
const token = randomBytes(16).toString("hex");
let hub: ChildProcess;
let hubLog = "";
let api: string;
let dashboard: string;

before(async () => {
  const ports = { apiPort: await freePort(), wsPort: await freePort(), dashboardPort: 0 };
  ports.dashboardPort = await freePort();
  api = `http://127.0.0.1:${ports.apiPort}`;
  dashboard = `http://127.0.0.1:${ports.dashboardPort}`;
  hub = await startHubProcess(
    ports,
    mkdtempSync(join(tmpdir(), "vmd-hub-http-")),
    token,
    (c) => (hubLog += c),
  );
});

const docker = testClient();
const containers: string[] = [];

after(async () => {
  hub?.kill("SIGTERM");
  for (const id of containers) await docker.removeContainer(id, { force: true }).catch(() => {});
});

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${api}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** POSTs a request that declares `length` bytes of JSON and sends none; resolves with the answer. */
function declaredTooLarge(url: string, length: number) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request(url, {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "content-length": length,
      },
    });
    req.on("response", (res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => {
        req.destroy();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

test("the hub answers client mistakes in its error format: unknown route 404, body not JSON 400, too large 413, each with a code and a hint", async () => {
  const unknown = await call("/x");
  assert.equal(unknown.status, 404, hubLog);
  assert.equal(unknown.body.error, "err_not_found");
  assert.match(String(unknown.body.message), /GET \/x/);
  assert.ok(unknown.body.hint, "a hint");

  const json = { "content-type": "application/json" };
  const bad = await call("/agents", { method: "POST", headers: json, body: "{not json" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error, "err_invalid_params");
  assert.match(String(bad.body.message), /not JSON/);
  assert.match(String(bad.body.hint), /JSON/);

  // Declared too large: the hub answers before the body is sent (sending 9 MiB races its close).
  const big = await declaredTooLarge(`${api}/agents`, 9 * 2 ** 20);
  assert.equal(big.status, 413);
  assert.equal(big.body.error, "err_body_too_large");
  assert.match(String(big.body.message), /larger than 8388608 bytes/);
  assert.match(String(big.body.hint), /the hub takes at most 8 MiB/);
  assert.doesNotMatch(String(big.body.hint), /maxBodyBytes/, "not the node's setting");

  const noToken = await fetch(`${api}/x`);
  assert.equal(noToken.status, 401, "an unknown route still needs the token");
  assert.deepEqual(await noToken.json(), {
    error: "err_unauthorized",
    message: "bearer token required",
    hint: hintOf("err_unauthorized"),
  });
});

test("the hub checks what it is sent: a task needs its type's fields (400 err_bad_task), an agent a known profile (404 err_unknown_profile)", async () => {
  const json = { "content-type": "application/json" };
  const post = (path: string, body: unknown) =>
    call(path, { method: "POST", headers: json, body: JSON.stringify(body) });
  const nope = await post("/agents", { name: uniqueName("nope"), profile: "nope" });
  assert.equal(nope.status, 404, JSON.stringify(nope.body));
  assert.equal(nope.body.error, "err_unknown_profile");
  assert.match(String(nope.body.message), /no profile nope/);
  assert.match(String(nope.body.hint), /builder/, "the hint names the profiles there are");

  const name = uniqueName("tasks");
  assert.equal((await post("/agents", { name, profile: "builder" })).status, 201);
  const bad: [unknown, RegExp][] = [
    [{ type: "exec" }, /the exec task's command/],
    [{ type: "exec", command: "" }, /the exec task's command: a shell command/],
    [{ type: "write_file", content: "x" }, /the write_file task's path/],
    [{ type: "write_file", path: "a.txt" }, /the write_file task's content/],
    [{ type: "read_file" }, /the read_file task's path/],
    [{ type: "exec", command: "pwd", timeoutMs: -1 }, /timeoutMs/],
    [{ type: "teleport" }, /unknown task type teleport \(known: exec, write_file, read_file\)/],
    [{ command: "pwd" }, /a task needs a type/],
  ];
  for (const [task, re] of bad) {
    const r = await post(`/agents/${name}/tasks`, task);
    assert.equal(r.status, 400, JSON.stringify(task));
    assert.equal(r.body.error, "err_bad_task");
    assert.match(String(r.body.message), re);
    assert.match(String(r.body.hint), /"type":"exec","command":"pwd"/);
  }
  const queued = await call(`/agents/${name}/tasks`);
  assert.deepEqual(queued.body, [], "nothing bad was queued");
  for (const task of [
    { type: "exec", command: "pwd", timeoutMs: 1000, env: { A: "1" } },
    { type: "write_file", path: "a.txt", content: "" },
    { type: "read_file", path: "a.txt" },
  ]) {
    const r = await post(`/agents/${name}/tasks`, task);
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, "queued");
  }
  assert.equal((await call(`/agents/${name}`, { method: "DELETE" })).status, 200);
});

test("docker-agent profiles, logs and snapshots work without a hub token (they only read files and the engine); verbs that reach the hub still need it", () => {
  // A state folder without the hub's token file, and no HUB_TOKEN.
  const bare = ["--state-dir", mkdtempSync(join(tmpdir(), "vmd-no-token-")), "--hub", api];
  const env = { HUB_TOKEN: "", DOCKER_HOST: `unix://${paths.engine.socket}` };
  const profiles = dockerAgent([...bare, "profiles", "--json"], env);
  assert.equal(profiles.code, 0, profiles.stderr);
  assert.ok(
    (JSON.parse(profiles.stdout) as { name: string }[]).some((p) => p.name === "builder"),
    "the shipped profiles are listed",
  );
  const name = uniqueName("notoken");
  // An unknown name fails the same way in both (no token asked for): the agent's absence, 125.
  for (const verb of ["snapshots", "logs"]) {
    const r = dockerAgent([...bare, verb, name], env);
    assert.equal(r.code, 125, `${verb}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(`no agent ${name} .*\\(fix: docker-agent list shows the agents\\)`),
      verb,
    );
  }
  for (const verb of [["list"], ["status", name], ["exec", name, "true"]]) {
    const r = dockerAgent([...bare, ...verb], env);
    assert.match(r.stderr, /no hub token/, `${verb[0]} reaches the hub: it needs the token`);
    assert.equal(r.code, 125);
  }
});

test("docker-agent list shows this hub's agents only, not the agent containers of another hub on the same engine", async () => {
  // What another hub's agent looks like on the engine: a container with the agent labels.
  const other = uniqueName("otherhub");
  const id = await docker.createContainer({
    name: `openclaw-agent-${other}`,
    Image: "vmdocker/busybox",
    Cmd: ["sleep", "60"],
    Labels: {
      "org.vmdocker.role": "agent",
      "org.vmdocker.agent": other,
      "org.vmdocker.profile": "builder",
      "org.vmdocker.hub": "0123456789abcdef",
    },
  });
  containers.push(id);
  const list = dockerAgent(["--hub", api, "--token", token, "list", "--json"]);
  assert.equal(list.code, 0, list.stderr);
  const names = (JSON.parse(list.stdout) as { name: string }[]).map((r) => r.name);
  assert.ok(!names.includes(other), `another hub's agent is not listed: ${names.join(", ")}`);

  // The hub's dashboard lists the same agents (a session from the login form, then its API).
  const login = await fetch(`${dashboard}/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
    redirect: "manual",
  });
  assert.equal(login.status, 303, "the login succeeds");
  const session = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
  const page = await fetch(`${dashboard}/api/agents?q=${other}`, { headers: { cookie: session } });
  assert.equal(page.status, 200);
  const shown = ((await page.json()) as { agents: { name: string }[] }).agents.map((a) => a.name);
  assert.ok(!shown.includes(other), `the dashboard leaves it out too: ${shown.join(", ")}`);
});
