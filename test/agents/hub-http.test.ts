import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startHubProcess } from "../helpers/hub.js";
import { freePort } from "../helpers/ports.js";

// The hub as a user reaches it (the `vmdocker hub` CLI in its own process): what its HTTP API
// answers for requests that are wrong.
const token = randomBytes(16).toString("hex");
let hub: ChildProcess;
let hubLog = "";
let api: string;

before(async () => {
  const ports = { apiPort: await freePort(), wsPort: await freePort(), dashboardPort: 0 };
  ports.dashboardPort = await freePort();
  api = `http://127.0.0.1:${ports.apiPort}`;
  hub = await startHubProcess(
    ports,
    mkdtempSync(join(tmpdir(), "vmd-hub-http-")),
    token,
    (c) => (hubLog += c),
    ["--no-dashboard"],
  );
});

after(() => {
  hub?.kill("SIGTERM");
});

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${api}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
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

  const big = await call("/agents", {
    method: "POST",
    headers: json,
    body: JSON.stringify({ name: "x".repeat(9 * 2 ** 20) }),
  });
  assert.equal(big.status, 413);
  assert.equal(big.body.error, "err_body_too_large");
  assert.match(String(big.body.message), /larger than 8388608 bytes/);
  assert.ok(big.body.hint, "a hint");

  const noToken = await fetch(`${api}/x`);
  assert.equal(noToken.status, 401, "an unknown route still needs the token");
});
