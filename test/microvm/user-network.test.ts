import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { cliPath } from "../helpers/netns.js";

// --network user: QEMU's user-mode network with loopback forwards, for hosts where bridges are
// not allowed. No bridge, TAP or NAT rule is made, so this runs in the host's own namespace and
// only talks to 127.0.0.1. The guest reaches the host's loopback as 10.0.2.2 (where a local model
// provider would listen).
const dir = mkdtempSync(join(tmpdir(), "vmd-usernet-"));
const env = {
  ...process.env,
  STATE_ROOT: join(dir, "state"),
  FC_ROOT: join(dir, "fc"),
  SSH_KEY_PATH: join(dir, "ssh", "key"),
  VMDEMO_STOP_TIMEOUT: "20",
};
const fixture = fileURLToPath(new URL("../helpers/microvm-fixture.js", import.meta.url));
let hostServer: Server;
let hostPort = 0;

function node(args: string[]) {
  const r = spawnSync(process.execPath, args, { env, encoding: "utf8", timeout: 900_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}
const vmCtl = (...args: string[]) => node([cliPath("vm-ctl"), ...args]);
/** The host's link names, without the engine's veths (other tests' containers come and go). */
const links = () =>
  spawnSync("ip", ["-o", "link", "show"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(": ")[1]?.split("@")[0] ?? "")
    .filter((n) => n && !n.startsWith("veth"))
    .sort();

before(async () => {
  hostServer = createServer((_req, res) => res.end("host-loopback-ok"));
  await new Promise<void>((resolve) => hostServer.listen(0, "127.0.0.1", resolve));
  hostPort = (hostServer.address() as { port: number }).port;
});

after(() => {
  vmCtl("destroy", "u1", "--force");
  hostServer.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a user-network VM: no bridge or TAP, the gateway on a loopback forward, the host's loopback reachable", async () => {
  const linksBefore = links();
  const made = node([fixture, "create", "u1", "user"]);
  assert.equal(made.code, 0, made.stderr);
  const started = vmCtl("start", "u1", "--timeout", "600");
  assert.equal(started.code, 0, started.stderr);
  const s = JSON.parse(vmCtl("status", "u1", "--json").stdout) as Record<string, unknown>;
  assert.equal(s.network, "user");
  assert.equal(s.ip, null);
  assert.equal(s.tap, null);
  assert.equal(typeof s.sshPort, "number");
  assert.equal(s.health, "ok");
  const health = await fetch(`http://127.0.0.1:${s.hostPort as number}/health`);
  assert.equal((await health.text()).trim(), "ok");
  const fetched = await fetch(
    `http://127.0.0.1:${s.hostPort as number}/cgi-bin/fetch?url=http://10.0.2.2:${hostPort}/`,
  );
  assert.equal((await fetched.text()).trim(), "FETCH-OK host-loopback-ok");
  assert.deepEqual(links(), linksBefore, "no link was made on the host");
  const qemu = spawnSync("cat", [`/proc/${s.pid as number}/cmdline`], { encoding: "utf8" }).stdout;
  assert.match(qemu, /hostfwd=tcp:127\.0\.0\.1:\d+-:18789/, "the forward binds loopback only");
  assert.doesNotMatch(qemu, /\btap\b|bridge/, "no TAP or bridge backend");
  assert.equal(vmCtl("destroy", "u1", "--force").code, 0);
  assert.ok(!existsSync(join(env.FC_ROOT, "u1")));
  assert.ok(!existsSync(`/proc/${s.pid as number}`));
});
