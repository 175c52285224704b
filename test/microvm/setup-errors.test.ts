import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { microvmEnv } from "../../src/microvm/env.js";
import { builtKernel } from "../../src/microvm/images/base.js";
import { silentProgress } from "../../src/progress.js";
import { cliPath, TestNetwork, type CliResult } from "../helpers/netns.js";

// vm-setup's refusals: each is one line with the fix, comes before anything is created, and
// leaves nothing behind. Bridge-mode runs happen inside a network namespace made here.
const net = TestNetwork.create();
const dir = mkdtempSync(join(tmpdir(), "vmd-vmsetup-"));
const env = {
  STATE_ROOT: join(dir, "state"),
  FC_ROOT: join(dir, "fc"),
  SSH_KEY_PATH: join(dir, "ssh", "key"),
  BRIDGE_NAME: "vmtbr2",
  TELEGRAM_BOT_TOKEN: "123:secret-token",
  ANTHROPIC_API_KEY: "sk-ant-secret",
};
const fixture = fileURLToPath(new URL("../helpers/microvm-fixture.js", import.meta.url));
let busy: ChildProcess;
const busyPort = 18999;

const NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath];
const setup = (args: string[], extraEnv: Record<string, string> = {}, asNobody = false) =>
  net.run(
    asNobody ? "setpriv" : process.execPath,
    [...(asNobody ? NOBODY : []), cliPath("vm-setup"), ...args],
    { ...env, ...extraEnv },
  );

function oneLineRefusal(r: CliResult, re: RegExp): void {
  assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0]!, /^vm-setup: .+ \(fix: .+\)$/);
  assert.match(lines[0]!, re);
  assert.equal(r.stdout, "");
}

function nothingLeft(id: string): void {
  assert.ok(!existsSync(join(env.STATE_ROOT, `.vm-${id}`)), "no state");
  assert.ok(!existsSync(join(env.FC_ROOT, id)), "no VM folder");
  assert.deepEqual(
    net.links().filter((l) => l.startsWith("fc-")),
    [],
    "no TAP",
  );
}

before(async () => {
  await builtKernel(microvmEnv({ ...process.env, ...env }), silentProgress);
  // Another program holds a port in the namespace where vm-setup runs.
  busy = spawn(
    "ip",
    [
      "netns",
      "exec",
      net.host,
      process.execPath,
      "-e",
      `require("node:net").createServer().listen(${busyPort}, "127.0.0.1", () => console.log("up"))`,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise((r) => busy.stdout!.once("data", r));
});

after(() => {
  busy?.kill();
  net.close();
  rmSync(dir, { recursive: true, force: true });
});

test("bad flags and couplings", async () => {
  oneLineRefusal(
    await setup(["--instance", "x1", "--vm-vcpu", "0"]),
    /--vm-vcpu 0 is not a whole number/,
  );
  oneLineRefusal(await setup(["--instance", "X1"]), /instance id "X1" is not allowed/);
  oneLineRefusal(
    await setup(["--instance", "x1"], { TELEGRAM_BOT_TOKEN: "" }),
    /--telegram-token is required/,
  );
  oneLineRefusal(
    await setup(["--instance", "x1", "--model", "openai/gpt-5"]),
    /needs --openai-api-key/,
  );
  oneLineRefusal(
    await setup(["--instance", "x1", "--model", "Anthropic/claude-opus-4-6"]),
    /provider names are lowercase \(fix: pass --model anthropic\/claude-opus-4-6\)/,
  );
  const withPassword = await setup([
    "--instance",
    "x1",
    "--telegram-api-root",
    "ftp://u:pw-secret@x",
  ]);
  oneLineRefusal(withPassword, /--telegram-api-root ftp:\/\/\*\*\*@x is not http\(s\)/);
  assert.doesNotMatch(withPassword.stderr, /pw-secret/);
  // Past ~24.8 days Node's timers overflow to 1 ms: such a wait would end provisioning at once.
  oneLineRefusal(
    await setup(["--instance", "x1", "--timeout", "3000000"]),
    /--timeout 3000000 is not a number of seconds from 1 to 604800/,
  );
  const help = await net.run(process.execPath, [cliPath("vm-setup"), "--help"]);
  assert.match(help.stdout, /--skip-browser-install/);
  assert.match(help.stdout, /Example:\n {2}sudo TELEGRAM_BOT_TOKEN=/);
  assert.doesNotMatch(
    help.stdout,
    /--(openai|anthropic|minimax)-api-key sk-/,
    "no key in an example",
  );
  nothingLeft("x1");
});

test("a taken port", async () => {
  oneLineRefusal(
    await setup(["--instance", "x2", "--host-port", String(busyPort)]),
    new RegExp(
      `127.0.0.1:${busyPort} is in use by another program \\(fix: pass another --host-port`,
    ),
  );
  nothingLeft("x2");
});

test("a missing kernel", async () => {
  oneLineRefusal(
    await setup(["--instance", "x3", "--base-kernel", "/nonexistent/vmlinux"]),
    /--base-kernel \/nonexistent\/vmlinux does not exist \(fix: pass the path of an uncompressed kernel/,
  );
  nothingLeft("x3");
});

test("no root for bridge mode", async () => {
  oneLineRefusal(
    await setup(["--instance", "x4"], {}, true),
    /bridge networking .* needs root \(fix: run with sudo, or pass --network user/,
  );
  nothingLeft("x4");
});

test("a full IP pool", async () => {
  const small = { SUBNET_CIDR: "172.16.9.0/30", BRIDGE_ADDR: "172.16.9.1/30" };
  const made = await net.run(process.execPath, [fixture, "create", "p1", "bridge"], {
    ...env,
    ...small,
  });
  assert.equal(made.code, 0, made.stderr);
  oneLineRefusal(
    await setup(["--instance", "p2"], small),
    /no free guest address in SUBNET_CIDR=172.16.9.0\/30 \(1 instances use it\) \(fix: destroy an instance/,
  );
  assert.ok(!existsSync(join(env.STATE_ROOT, ".vm-p2")));
  assert.deepEqual(readdirSync(env.FC_ROOT), ["p1"]);
  const gone = await net.run(process.execPath, [cliPath("vm-ctl"), "destroy", "p1", "--force"], {
    ...env,
    ...small,
  });
  assert.equal(gone.code, 0, gone.stderr);
  nothingLeft("p1");
});

test("destroy --force removes an instance whose record no longer parses (and without --force it is refused)", async () => {
  const state = join(env.STATE_ROOT, ".vm-broken");
  mkdirSync(state, { recursive: true });
  writeFileSync(join(state, "env"), "INSTANCE_ID=broken\nPREFIX=99\n");
  const ctl = (...args: string[]) => net.run(process.execPath, [cliPath("vm-ctl"), ...args], env);
  const refused = await ctl("status", "broken");
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /err_state_corrupt|destroy the instance with --force/);
  const gone = await ctl("destroy", "broken", "--force");
  assert.equal(gone.code, 0, gone.stderr);
  assert.match(gone.stdout, /broken destroyed/);
  nothingLeft("broken");
});
