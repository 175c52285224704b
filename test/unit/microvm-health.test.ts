import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { after, before, test } from "node:test";
import { healthOk, probeTimeoutMs } from "../../src/microvm/net/health.js";

// The health probe against a server answering as OpenClaw's probe routes do: /health ("live")
// answers 200 as soon as the HTTP server listens; /startupz 503 while plugins, channels and
// sidecars still load, 200 once started. A server without /startupz answers 404.
let server: Server;
let port = 0;
const answers = { health: 200, startupz: 503 };

before(async () => {
  server = createServer((req, res) => {
    const code =
      req.url === "/health" ? answers.health : req.url === "/startupz" ? answers.startupz : 404;
    res.writeHead(code, { "content-type": "application/json" }).end('{"ok":true}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  port = (server.address() as { port: number }).port;
});
after(() => new Promise<void>((r) => server.close(() => r())));

test("a live gateway that is still starting is not healthy; a started one is", async () => {
  Object.assign(answers, { health: 200, startupz: 503 });
  assert.equal(await healthOk(port), false);
  Object.assign(answers, { startupz: 200 });
  assert.equal(await healthOk(port), true);
});

test("a server without a startup probe is healthy on /health alone; a failing /health never is", async () => {
  Object.assign(answers, { health: 200, startupz: 404 });
  assert.equal(await healthOk(port), true);
  Object.assign(answers, { health: 500, startupz: 200 });
  assert.equal(await healthOk(port), false);
});

test("no answer within the probe's time is unhealthy", async () => {
  const silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const t = Date.now();
  assert.equal(await healthOk((silent.address() as { port: number }).port, 300), false);
  assert.ok(Date.now() - t < 2000);
  silent.closeAllConnections();
  await new Promise<void>((r) => silent.close(() => r()));
});

test("an emulated guest's gateway that answers after a few seconds' stall is up; with KVM it is not", async () => {
  const slow = createServer((req, res) => {
    setTimeout(() => res.writeHead(req.url === "/health" ? 200 : 404).end("{}"), 2500);
  });
  await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
  const slowPort = (slow.address() as { port: number }).port;
  assert.equal(await healthOk(slowPort, probeTimeoutMs("tcg")), true);
  assert.equal(await healthOk(slowPort, probeTimeoutMs("kvm")), false);
  slow.closeAllConnections();
  await new Promise<void>((r) => slow.close(() => r()));
});
