import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { parseBots } from "../../src/dashboard/bots.js";
import { microvmEnv } from "../../src/microvm/env.js";
import { builtKernel } from "../../src/microvm/images/base.js";
import { silentProgress } from "../../src/progress.js";
import { cliPath, TestNetwork, type CliResult } from "../helpers/netns.js";

// vm-ctl against real QEMU guests (software emulation here) on a real bridge with TAPs and NAT,
// everything host-side inside a network namespace this test creates. The guests are the small test
// guest (test/helpers/microvm-guest.ts): same kernel, initramfs modules, seed disk, VMM, network,
// supervisor and proxy as a bot, without OpenClaw, so it boots in seconds. Two run at once.
const net = TestNetwork.create();
const dir = mkdtempSync(join(tmpdir(), "vmd-vmctl-"));
const env = {
  STATE_ROOT: join(dir, "state"),
  FC_ROOT: join(dir, "fc"),
  SSH_KEY_PATH: join(dir, "ssh", "key"),
  BRIDGE_NAME: "vmtbr0",
  VMDEMO_STOP_TIMEOUT: "20",
};
const fixture = fileURLToPath(new URL("../helpers/microvm-fixture.js", import.meta.url));
let world: ChildProcess;
let worldUrl = "";

const vmCtl = (...args: string[]) => net.run(process.execPath, [cliPath("vm-ctl"), ...args], env);
const ok = (r: CliResult, what: string) =>
  assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);

type Bot = Record<string, unknown> & {
  id: string;
  state: string;
  health: string;
  pid: number | null;
  ip: string;
  hostPort: number;
};
async function list(): Promise<Bot[]> {
  const r = await vmCtl("list", "--json");
  ok(r, "vm-ctl list --json");
  return JSON.parse(r.stdout) as Bot[];
}
const bot = async (id: string) => (await list()).find((b) => b.id === id)!;

/** Asks guest `id` (through its proxy) to fetch `url`; returns what it answered. */
function guestFetch(b: Bot, url: string): string {
  return net.curl(`http://127.0.0.1:${b.hostPort}/cgi-bin/fetch?url=${url}`).stdout.trim();
}

async function until<T>(
  what: string,
  probe: () => Promise<T | null> | T | null,
  timeoutMs = 300_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

before(async () => {
  // Images are built (or found) out here: the namespaces have no way to Debian's mirror.
  await builtKernel(microvmEnv({ ...process.env, ...env }), silentProgress);
  world = net.spawnWorld(fileURLToPath(new URL("../helpers/microvm-world.js", import.meta.url)), [
    net.worldIp,
  ]);
  worldUrl = await new Promise<string>((resolve) =>
    world.on(
      "message",
      (m: { type: string; plain: string }) => m.type === "ready" && resolve(m.plain),
    ),
  );
  for (const id of ["a", "b"]) {
    const r = await net.run(process.execPath, [fixture, "create", id, "bridge"], env);
    ok(r, `creating ${id}`);
  }
});

after(() => {
  world?.kill();
  net.close();
  rmSync(dir, { recursive: true, force: true });
});

test("two VMs start under their supervisors and answer /health through 127.0.0.1 proxies", async () => {
  ok(await vmCtl("start", "a", "--timeout", "600"), "start a");
  ok(await vmCtl("start", "b", "--timeout", "600"), "start b");
  for (const id of ["a", "b"]) {
    const b = await bot(id);
    assert.equal(net.curl(`http://127.0.0.1:${b.hostPort}/health`).stdout.trim(), "ok");
  }
});

test("list --json keeps the dashboard's contract", async () => {
  const r = await vmCtl("list", "--json");
  ok(r, "vm-ctl list --json");
  // The dashboard's own parser (its Bots view) accepts the real output as it is.
  const seen = parseBots(r.stdout);
  assert.deepEqual(
    seen.map((b) => [b.id, b.state, b.health, b.vmm, b.accel, b.network]),
    [
      ["a", "running", "ok", "qemu", "tcg", "bridge"],
      ["b", "running", "ok", "qemu", "tcg", "bridge"],
    ],
  );
  const rows = JSON.parse(r.stdout) as Bot[];
  assert.deepEqual(
    rows.map((r) => r.id),
    ["a", "b"],
  );
  for (const r of rows) {
    assert.equal(r.state, "running");
    assert.equal(r.vmm, "qemu");
    assert.equal(r.accel, "tcg");
    assert.equal(r.network, "bridge");
    assert.match(r.ip, /^172\.16\.0\.\d+$/);
    assert.equal(typeof r.hostPort, "number");
    assert.equal(r.health, "ok");
    assert.equal(typeof r.pid, "number");
    assert.ok(
      readFileSync(`/proc/${r.pid}/cmdline`, "utf8").startsWith("qemu-system-x86_64"),
      "pid is the VMM's",
    );
    assert.equal(r.vcpu, 1);
    assert.equal(r.memMib, 192);
    assert.equal(r.model, "test/none");
    assert.ok(!Number.isNaN(Date.parse(r.createdAt as string)));
  }
  assert.notEqual(rows[0]!.ip, rows[1]!.ip);
  assert.notEqual(rows[0]!.hostPort, rows[1]!.hostPort);
  const one = await vmCtl("status", "a", "--json");
  ok(one, "status a --json");
  assert.deepEqual(Object.keys(JSON.parse(one.stdout) as object).slice(0, 13), [
    "id",
    "state",
    "vmm",
    "accel",
    "network",
    "ip",
    "hostPort",
    "health",
    "pid",
    "vcpu",
    "memMib",
    "model",
    "createdAt",
  ]);
});

test("guests cannot reach each other, but reach the outside through NAT", async () => {
  const [a, b] = [await bot("a"), await bot("b")];
  assert.match(guestFetch(a, `http://${b.ip}:18789/health`), /^FETCH-FAILED/, "a cannot reach b");
  assert.match(guestFetch(b, `http://${a.ip}:18789/health`), /^FETCH-FAILED/, "b cannot reach a");
  assert.equal(guestFetch(a, worldUrl), "FETCH-OK world-ok", "a reaches the world through NAT");
  assert.equal(guestFetch(b, worldUrl), "FETCH-OK world-ok");
  // and only loopback listens: the proxy is not on the uplink address
  assert.notEqual(net.curl(`http://${net.uplinkIp}:${a.hostPort}/health`).code, 0);
});

test("a VMM killed with SIGKILL comes back by itself", async () => {
  const before = await bot("a");
  process.kill(before.pid!, "SIGKILL");
  const back = await until("a healthy again with a new VMM", async () => {
    const now = await bot("a");
    return now.pid !== null && now.pid !== before.pid && now.health === "ok" ? now : null;
  });
  assert.equal(back.state, "running");
  assert.equal(back.restarts, 1);
  assert.match(
    readFileSync(join(env.FC_ROOT, "a", "logs", "supervisor.log"), "utf8"),
    /the VMM ended \(SIGKILL\)/,
  );
});

test("snapshot then restore: the guest resumes from memory (no boot) and serves again", async () => {
  const b = await bot("a");
  const count = () =>
    Number(net.curl(`http://127.0.0.1:${b.hostPort}/cgi-bin/counter`).stdout.trim());
  assert.equal(count(), 1);
  const snap = await vmCtl("snapshot", "a", "s1", "--json");
  ok(snap, "snapshot");
  assert.equal((JSON.parse(snap.stdout) as { name: string }).name, "s1");
  assert.equal(count(), 2);
  assert.equal(count(), 3);
  const snaps = await vmCtl("snapshots", "a", "--json");
  assert.deepEqual(
    (JSON.parse(snaps.stdout) as { name: string }[]).map((s) => s.name),
    ["s1"],
  );
  const r = await vmCtl("restore", "a", "s1", "--json");
  ok(r, "restore");
  const restored = JSON.parse(r.stdout) as { ms: number };
  assert.ok(restored.ms > 0);
  assert.equal(
    count(),
    2,
    "the counter continues from the snapshot's memory: restored, not rebooted",
  );
  assert.equal((await bot("a")).state, "running");
  const missing = await vmCtl("restore", "a", "nope");
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /^vm-ctl: instance a has no snapshot nope \(fix: take one with vm-ctl snapshot a/,
  );
});

test("pause and resume", async () => {
  ok(await vmCtl("pause", "b"), "pause");
  const paused = await bot("b");
  assert.equal(paused.state, "paused");
  assert.equal(paused.health, "unknown");
  ok(await vmCtl("resume", "b"), "resume");
  await until(
    "b healthy after resume",
    async () => ((await bot("b")).health === "ok" ? true : null),
    60_000,
  );
});

test("stop powers the guest off and stays stopped across a host restart; running ones come back; restart", async () => {
  ok(await vmCtl("stop", "a"), "stop a");
  const a = await bot("a");
  assert.equal(a.state, "stopped");
  assert.equal(a.pid, null);
  assert.equal(a.health, "down");
  assert.match(
    readFileSync(join(env.FC_ROOT, "a", "logs", "serial.log"), "utf8"),
    /VMTEST power button/,
    "ACPI power-off, not a kill",
  );
  assert.notEqual(net.curl(`http://127.0.0.1:${a.hostPort}/health`).code, 0, "the proxy is gone");
  // The host "restarts": every process of the host side dies at once.
  const b = await bot("b");
  for (const pid of [b.supervisorPid as number, b.pid!]) process.kill(pid, "SIGKILL");
  await until("b down", async () => ((await bot("b")).pid === null ? true : null), 30_000);
  const down = await bot("b");
  assert.equal(down.state, "error", "wanted running, nothing runs it");
  assert.match(String(down.lastError), /vm-ctl boot/);
  const boot = await vmCtl("boot");
  ok(boot, "boot");
  assert.match(boot.stdout, /^started b$/m);
  await until("b back after boot", async () => ((await bot("b")).health === "ok" ? true : null));
  assert.equal((await bot("a")).state, "stopped", "a stayed stopped");
  ok(await vmCtl("start", "a", "--timeout", "600"), "start a");
  assert.equal((await bot("a")).health, "ok");
  const beforeRestart = (await bot("a")).pid;
  ok(await vmCtl("restart", "a", "--timeout", "600"), "restart a");
  const restarted = await bot("a");
  assert.equal(restarted.health, "ok");
  assert.notEqual(restarted.pid, beforeRestart, "restart ran a new VMM");
});

test("destroy leaves no TAP, no process, no state; the last one takes the bridge and NAT away", async () => {
  const before = await list();
  const vmmPids = before.map((b) => b.pid!);
  const refused = await vmCtl("destroy", "a");
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /needs a confirmation \(fix: pass --force/);
  ok(await vmCtl("destroy", "a", "--force"), "destroy a");
  assert.ok(net.links().includes("vmtbr0"), "b still uses the bridge");
  ok(await vmCtl("destroy", "b", "--force"), "destroy b");
  assert.deepEqual(await list(), []);
  for (const pid of vmmPids) assert.ok(!existsSync(`/proc/${pid}`), `VMM ${pid} is gone`);
  const left = net.links().filter((l) => l !== "lo" && !l.startsWith("vmt"));
  assert.deepEqual(left, [], "no TAP left");
  assert.ok(!net.links().includes("vmtbr0"), "the bridge vmdemo created is gone");
  assert.doesNotMatch(net.exec("iptables", ["-t", "nat", "-S"]).stdout, /MASQUERADE/);
  assert.deepEqual(readdirSync(env.FC_ROOT), []);
  assert.deepEqual(
    readdirSync(env.STATE_ROOT).filter((f) => f.startsWith(".vm-")),
    [],
  );
  const procs = net.pids().filter((pid) => {
    try {
      return /vm-ctl|qemu/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    } catch {
      return false;
    }
  });
  assert.deepEqual(procs, [], "no supervisor or VMM runs in the namespace");
});
