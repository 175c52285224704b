import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { callRuntime, runtimeAgent } from "../../src/runtime/backends/runtime-call.js";

test("the keep-alive agent to a runtime drops an idle socket before the runtime's server would", async () => {
  const server = createServer((_req, res) => res.end('{"status":"ok"}'));
  // The runtime server announces `Keep-Alive: timeout=2`; the agent must give up on the socket first.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const agent = runtimeAgent();
  const idle = () => Object.values(agent.freeSockets).flat().length;
  try {
    assert.equal((await callRuntime(base, "health", undefined, 5000, agent)).status, 200);
    assert.equal(idle(), 1, "the socket is kept for the next call");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(idle(), 0, "closed by the client one second before the server's timeout");
    assert.equal((await callRuntime(base, "health", undefined, 5000, agent)).status, 200);
  } finally {
    agent.destroy();
    server.close();
  }
});
