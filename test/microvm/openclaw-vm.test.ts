import assert from "node:assert/strict";
import { spawnSync, type ChildProcess } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { microvmEnv } from "../../src/microvm/env.js";
import { resolveBaseImages } from "../../src/microvm/images/base.js";
import { silentProgress } from "../../src/progress.js";
import { OPENCLAW_VERSION } from "../../src/runtime/images/sources.js";
import { cliPath, TestNetwork, type CliResult } from "../helpers/netns.js";

// The seed's whole flow once, end to end, on this machine's software emulation: vm-setup brings
// up OpenClaw in a QEMU microVM on a bridge (host side in a network namespace made here), with
// the model provider and the Telegram Bot API as local servers behind the host's NAT. One VM
// serves every assertion; under TCG each start of the gateway takes minutes, so it starts twice in
// all: in vm-setup and in the boot after the kill -9 (stop comes back through a restore, no boot;
// re-provisioning's restart is the one the kill -9 interrupts).
const net = TestNetwork.create();
const dir = mkdtempSync(join(tmpdir(), "vmd-ocvm-"));
const API_KEY = `sk-test-${Date.now()}`;
const BOT_TOKEN = `${Date.now() % 1e9}:vm-bot-secret`;
const USER = 4242;
const env = {
  STATE_ROOT: join(dir, "state"),
  FC_ROOT: join(dir, "fc"),
  SSH_KEY_PATH: join(dir, "ssh", "vmdemo_vm"),
  BRIDGE_NAME: "vmtbr1",
};
let world: ChildProcess;
let urls: { llm: string; telegram: string; plain: string };
let setupOut: CliResult;
let setupMs = 0;
let restoreMs = 0;
let snapshotPid = "";
const seenOnCommandLines = new Set<string>();
let watching: NodeJS.Timeout | undefined;

const vmCtl = (...args: string[]) => net.run(process.execPath, [cliPath("vm-ctl"), ...args], env);
const ok = (r: CliResult, what: string) =>
  assert.equal(r.code, 0, `${what}: ${r.stderr}${r.stdout}`);

type WorldCalls = {
  llm: { auth?: string; model?: string; messages: { content: unknown }[] }[];
  telegram: string[];
  sent: { chatId: string; text: string }[];
};
function worldCalls(): Promise<WorldCalls> {
  return new Promise((resolve) => {
    const on = (m: WorldCalls & { type: string }) => {
      if (m.type !== "calls") return;
      world.off("message", on);
      resolve(m);
    };
    world.on("message", on);
    world.send({ type: "calls" });
  });
}

async function until<T>(
  what: string,
  probe: () => Promise<T | null> | T | null,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

type Bot = {
  id: string;
  state: string;
  health: string;
  pid: number | null;
  hostPort: number;
  ip: string;
};
async function status(): Promise<Bot> {
  const r = await vmCtl("status", "t1", "--json");
  ok(r, "status");
  return JSON.parse(r.stdout) as Bot;
}
const healthy = async () => ((await status()).health === "ok" ? true : null);

/** Every process's command line, scanned for the secrets while the test runs. */
function scanCommandLines(secrets: string[]): void {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    for (const s of secrets)
      if (cmdline.includes(s))
        seenOnCommandLines.add(`${s.slice(0, 6)}… in ${cmdline.replace(/\0/g, " ").slice(0, 120)}`);
  }
}

function chat(port: number, token: string, text: string): CliResult {
  return net.exec(
    "curl",
    [
      "-sS",
      "-m",
      "900",
      "-H",
      `authorization: Bearer ${token}`,
      "-H",
      "content-type: application/json",
      "-d",
      JSON.stringify({
        model: "openclaw",
        user: "vm-test",
        messages: [{ role: "user", content: text }],
      }),
      `http://127.0.0.1:${port}/v1/chat/completions`,
    ],
    {},
    960_000,
  );
}

before(async () => {
  // Images come from the cache `vm-ctl prepare` filled (outside the namespaces: no mirror in there).
  await resolveBaseImages(
    microvmEnv({ ...process.env, ...env }),
    { browser: true, openclawVersion: OPENCLAW_VERSION },
    silentProgress,
  );
  world = net.spawnWorld(
    fileURLToPath(new URL("../helpers/microvm-world.js", import.meta.url)),
    [net.worldIp],
    { VMTEST_BOT_TOKEN: BOT_TOKEN },
  );
  urls = await new Promise((resolve) =>
    world.on("message", (m: { type: string } & typeof urls) => m.type === "ready" && resolve(m)),
  );
  watching = setInterval(() => scanCommandLines([API_KEY, BOT_TOKEN]), 500);
  const t = Date.now();
  setupOut = await net.run(
    process.execPath,
    [
      cliPath("vm-setup"),
      "--instance",
      "t1",
      "--telegram-users",
      String(USER),
      "--telegram-api-root",
      urls.telegram,
      "--model",
      "openai/fake-model",
      "--provider-base-url",
      urls.llm,
      "--vm-vcpu",
      "2",
      "--vm-mem-mib",
      "2048",
      "--timeout",
      "3000",
      "--json",
    ],
    // Secrets through the environment, as the README advises.
    { ...env, TELEGRAM_BOT_TOKEN: BOT_TOKEN, OPENAI_API_KEY: API_KEY },
  );
  setupMs = Date.now() - t;
});

/** OPENCLAW_VM_TEST_LOG=<file> keeps the guest's gateway log and the host's logs of the run. */
async function keepLogs(): Promise<void> {
  const keep = process.env.OPENCLAW_VM_TEST_LOG;
  if (!keep) return;
  const guest = await vmCtl("logs", "t1", "--no-follow", "-n", "400").catch(() => null);
  const host = await vmCtl("logs", "t1", "host", "--no-follow", "-n", "200").catch(() => null);
  writeFileSync(keep, `${guest?.stdout ?? ""}${guest?.stderr ?? ""}\n${host?.stdout ?? ""}`);
}

after(async () => {
  clearInterval(watching);
  if (existsSync(join(env.STATE_ROOT, ".vm-t1"))) await keepLogs();
  await vmCtl("destroy", "t1", "--force").catch(() => {});
  world?.kill();
  net.close();
  rmSync(dir, { recursive: true, force: true });
});

test("vm-setup brings up the gateway: /health answers through 127.0.0.1:<port>", async () => {
  ok(setupOut, "vm-setup");
  const out = JSON.parse(setupOut.stdout) as {
    hostPort: number;
    vmm: string;
    accel: string;
    network: string;
    seconds: Record<string, number>;
  };
  assert.equal(out.vmm, "qemu");
  assert.equal(out.accel, "tcg");
  assert.equal(out.network, "bridge");
  const health = net.curl(`http://127.0.0.1:${out.hostPort}/health`);
  assert.equal(health.code, 0, health.stderr);
  assert.match(health.stdout, /"ok":\s*true/);
  const s = await status();
  assert.equal(s.state, "running");
  assert.equal(s.health, "ok");
  console.log(`# vm-setup took ${(setupMs / 1000).toFixed(0)} s: ${JSON.stringify(out.seconds)}`);
});

test("secrets: never on a command line, files 0600, the token printed only by vm-ctl token", async () => {
  const token = (await vmCtl("token", "t1")).stdout.trim();
  assert.match(token, /^[A-Za-z0-9_-]{40,}$/);
  scanCommandLines([token]);
  assert.deepEqual([...seenOnCommandLines], [], "no secret on any host command line");
  assert.ok(
    !setupOut.stdout.includes(token) && !setupOut.stderr.includes(token),
    "vm-setup does not print the token",
  );
  const state = join(env.STATE_ROOT, ".vm-t1");
  for (const f of [
    join(state, "token"),
    join(state, "provision.env"),
    join(state, "env"),
    join(env.FC_ROOT, "t1", "seed.img"),
    join(env.FC_ROOT, "t1", "ssh_host_ed25519_key"),
  ])
    assert.equal(statSync(f).mode & 0o777, 0o600, `${f} is 0600`);
  const inGuest = await vmCtl(
    "shell",
    "t1",
    `stat -c %a /etc/openclaw/gateway.env; cat /proc/[0-9]*/cmdline | tr '\\0' ' '`,
  );
  ok(inGuest, "shell");
  assert.match(inGuest.stdout, /^600\n/);
  for (const s of [token, API_KEY, BOT_TOKEN])
    assert.ok(!inGuest.stdout.includes(s), "no secret on a guest command line");
});

test("a chat through the gateway reaches the model provider with the key", async () => {
  const s = await status();
  const token = (await vmCtl("token", "t1")).stdout.trim();
  const r = chat(s.hostPort, token, "hello from the test");
  assert.equal(r.code, 0, r.stderr);
  const answer = JSON.parse(r.stdout) as { choices?: { message: { content: string } }[] };
  assert.ok(answer.choices?.[0], `the gateway answered: ${r.stdout.slice(0, 500)}`);
  assert.match(answer.choices[0].message.content, /^fake reply #\d+$/);
  const calls = await worldCalls();
  const last = calls.llm.at(-1)!;
  assert.equal(last.auth, `Bearer ${API_KEY}`);
  assert.equal(last.model, "fake-model");
  assert.ok(JSON.stringify(last.messages).includes("hello from the test"));
  const denied = net.exec("curl", [
    "-s",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-X",
    "POST",
    `http://127.0.0.1:${s.hostPort}/v1/chat/completions`,
  ]);
  assert.equal(denied.stdout, "401", "no token, no chat");
});

test("Telegram: the bot talks to the configured Bot API server and answers an allow-listed user", async () => {
  const before = await worldCalls();
  assert.ok(
    before.telegram.includes("getMe") && before.telegram.includes("getUpdates"),
    `calls: ${before.telegram.join(",")}`,
  );
  world.send({ type: "say", user: USER, text: "hi from telegram" });
  const sent = await until(
    "the bot's reply to the allow-listed user",
    async () =>
      (await worldCalls()).sent.find(
        (m) => m.chatId === String(USER) && /fake reply/.test(m.text),
      ) ?? null,
    900_000,
  );
  assert.match(sent.text, /fake reply #\d+/);
});

test("vm-ctl shell passes exit codes on; the guest has its gateway service and Chromium", async () => {
  const code = await vmCtl("shell", "t1", "exit 7");
  assert.equal(code.code, 7);
  // An interactive session on a terminal (script(1) gives vm-ctl one): typed lines run in a
  // login shell on a guest pty, and the session's exit code comes back.
  const session = spawnSync(
    "ip",
    [
      "netns",
      "exec",
      net.host,
      "script",
      "-qec",
      `${process.execPath} ${cliPath("vm-ctl")} shell t1`,
      "/dev/null",
    ],
    {
      input: "tty; echo inter-$((6*7))\nexit 5\n",
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: 300_000,
    },
  );
  assert.equal(session.status, 5, session.stdout + session.stderr);
  assert.match(session.stdout, /\/dev\/pts\/\d+/);
  assert.match(session.stdout, /inter-42/);
  const svc = await vmCtl("shell", "t1", "systemctl", "is-active", "openclaw-t1");
  assert.equal(svc.stdout.trim(), "active");
  const chromium = await vmCtl("shell", "t1", "chromium --version");
  ok(chromium, "chromium --version");
  assert.match(chromium.stdout, /Chromium \d+/);
  const logs = await vmCtl("logs", "t1", "--no-follow", "-n", "50");
  ok(logs, "logs");
  assert.match(logs.stdout, /openclaw|gateway/i);
  const host = await vmCtl("logs", "t1", "host", "--no-follow", "-n", "20");
  assert.match(host.stdout, /supervisor\.log/);
});

test("stop, then restore of the stopped bot: the same gateway process serves again without a boot", async () => {
  const gatewayPid = async () =>
    (await vmCtl("shell", "t1", "systemctl show -p MainPID --value openclaw-t1")).stdout.trim();
  snapshotPid = await gatewayPid();
  assert.match(snapshotPid, /^[1-9]\d*$/);
  const snap = await vmCtl("snapshot", "t1", "warm", "--json");
  ok(snap, "snapshot");
  const s = JSON.parse(snap.stdout) as { ms: number; memoryBytes: number };
  // The guest was paused while its memory was written; it serves again once it has caught up.
  await until("serving again after the snapshot", healthy, 300_000);
  ok(await vmCtl("stop", "t1"), "stop");
  const stopped = await status();
  assert.equal(stopped.state, "stopped");
  assert.equal(stopped.pid, null);
  assert.notEqual(net.curl(`http://127.0.0.1:${stopped.hostPort}/health`).code, 0);
  const restore = await vmCtl("restore", "t1", "warm", "--json", "--timeout", "900");
  ok(restore, "restore");
  restoreMs = (JSON.parse(restore.stdout) as { ms: number }).ms;
  const back = await status();
  assert.equal(back.state, "running");
  assert.equal(back.health, "ok");
  assert.equal(await gatewayPid(), snapshotPid, "resumed from memory, not started again");
  const token = (await vmCtl("token", "t1")).stdout.trim();
  const r = chat(back.hostPort, token, "after the restore");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fake reply #\d+/);
  console.log(
    `# snapshot ${s.ms} ms (${(s.memoryBytes / 2 ** 20).toFixed(0)} MiB), restore of the stopped bot until healthy ${restoreMs} ms`,
  );
});

// The one cold start after vm-setup, right after a re-provisioning: the new configuration is on
// the guest's disk, the supervisor boots the guest again and the gateway comes up with it as an
// enabled service of the guest. Under TCG every gateway start takes minutes, so `provision` does
// not wait here for the restart it began (vm-setup passes the same provisioning and both health
// gates with the wait). vm-ctl start and restart boot as the supervisor does here (one code path
// in src/microvm/lifecycle.ts); test/microvm/vm-ctl.test.ts runs both on small guests.
test("provision again, then kill -9 of the VMM: the bot comes back by itself with the new allow list, same address, port and token", async () => {
  const before = await status();
  const token = (await vmCtl("token", "t1")).stdout.trim();
  ok(await vmCtl("provision", "t1", "--telegram-users", `${USER},5151`, "--no-wait"), "provision");
  const t = Date.now();
  process.kill(before.pid!, "SIGKILL");
  await until(
    "a new VMM",
    async () => {
      const s = await status();
      return s.pid !== null && s.pid !== before.pid ? s : null;
    },
    60_000,
  );
  await until("healthy again", healthy, 3_000_000);
  const coldStartMs = Date.now() - t;
  const after = await status();
  assert.equal(after.hostPort, before.hostPort);
  assert.equal(after.ip, before.ip);
  assert.equal((await vmCtl("token", "t1")).stdout.trim(), token);
  const cfg = await vmCtl("shell", "t1", "cat /home/openclaw/.openclaw/openclaw.json");
  assert.match(cfg.stdout, /"allowFrom": \[\s*"4242",\s*"5151"\s*\]/);
  const pid = (
    await vmCtl("shell", "t1", "systemctl show -p MainPID --value openclaw-t1")
  ).stdout.trim();
  assert.match(pid, /^[1-9]\d*$/);
  assert.notEqual(pid, snapshotPid, "a fresh boot started the gateway anew");
  assert.ok(restoreMs < coldStartMs, `restore ${restoreMs} ms < cold start ${coldStartMs} ms`);
  console.log(
    `# cold start (kill -9 until healthy through the proxy): ${(coldStartMs / 1000).toFixed(0)} s`,
  );
});

test("destroy leaves no TAP, no process, no state", async () => {
  await keepLogs();
  const s = await status();
  ok(await vmCtl("destroy", "t1", "--force"), "destroy");
  assert.ok(!existsSync(`/proc/${s.pid}`));
  assert.deepEqual(
    net.links().filter((l) => l.startsWith("fc-") || l === "vmtbr1"),
    [],
  );
  assert.ok(!existsSync(join(env.FC_ROOT, "t1")));
  assert.ok(!existsSync(join(env.STATE_ROOT, ".vm-t1")));
  const leftovers = net.pids().filter((pid) => {
    try {
      return /vm-ctl|qemu/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
    } catch {
      return false;
    }
  });
  assert.deepEqual(leftovers, []);
});
