import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { VmdError } from "../../src/errors.js";
import { pickGuestIp, pickPorts, checkRequestedPort } from "../../src/microvm/alloc.js";
import { checkInstanceId, ENV_DEFAULTS, envPairs, microvmEnv } from "../../src/microvm/env.js";
import { formatEnvFile, parseEnvFile, writeEnvFile } from "../../src/microvm/envfile.js";
import { macForIp } from "../../src/microvm/net/cidr.js";
import { instancePaths } from "../../src/microvm/paths.js";
import { readInstance, writeInstance } from "../../src/microvm/state.js";
import { testRecord } from "../helpers/microvm-record.js";
import { startProxy } from "../../src/microvm/net/proxy.js";

const tmp = () => mkdtempSync(join(tmpdir(), "vmd-microvm-"));

const record = testRecord;

test("the variables and their defaults are the seed's", () => {
  const env = microvmEnv({ HOME: "/home/u" });
  assert.equal(env.fcRoot, "/srv/firecracker/vm-demo");
  assert.equal(env.basePort, 18890);
  assert.equal(env.bridgeName, "fcbr0");
  assert.deepEqual(env.bridgeAddr, { ip: "172.16.0.1", prefix: 24 });
  assert.equal(env.subnet.text, "172.16.0.0/24");
  assert.equal(env.baseImagesDir, "/srv/firecracker/base/images");
  assert.match(env.stateRoot, /\/\.vm-demo$/, "STATE_ROOT defaults to <repo>/.vm-demo");
  assert.match(env.sshKeyPath, /\/\.ssh\/vmdemo_vm$/);
  assert.deepEqual(Object.keys(ENV_DEFAULTS).length, 6);
  const vars = {
    STATE_ROOT: "/tmp/s",
    FC_ROOT: "/tmp/f",
    BASE_PORT: "20000",
    BRIDGE_NAME: "br-test",
    BRIDGE_ADDR: "10.9.0.1/28",
    SUBNET_CIDR: "10.9.0.0/28",
    SSH_KEY_PATH: "/tmp/key",
    BASE_IMAGES_DIR: "/tmp/img",
  };
  const { VMDOCKER_HOME: _home, ...pairs } = envPairs(microvmEnv(vars));
  assert.deepEqual(
    pairs,
    vars,
    "every variable is honoured and handed on to supervisors and units",
  );
});

test("bad variables and ids are refused with the variable's name and a valid value", () => {
  const refuses = (vars: NodeJS.ProcessEnv, re: RegExp) =>
    assert.throws(
      () => microvmEnv(vars),
      (e: unknown) => e instanceof VmdError && e.code === "err_bad_env" && re.test(e.message),
    );
  refuses({ BASE_PORT: "80" }, /BASE_PORT=80/);
  refuses({ SUBNET_CIDR: "172.16.0.5/24" }, /host bits/);
  refuses(
    { BRIDGE_ADDR: "10.0.0.1/24" },
    /BRIDGE_ADDR=10.0.0.1\/24 is not an address of SUBNET_CIDR/,
  );
  refuses({ BRIDGE_NAME: "a-name-much-too-long" }, /BRIDGE_NAME/);
  for (const id of ["My-Bot", "a b", "../x", "x;rm", "", "a".repeat(49)])
    assert.throws(() => checkInstanceId(id), /instance id|no instance id/);
  assert.equal(checkInstanceId("my-bot_2"), "my-bot_2");
});

test("env files are parsed, never run: quoting round-trips and shell syntax stays text", () => {
  const values = { A: "plain", B: 'it\'s $(rm -rf /) `x` ; | & "q"', C: "" };
  assert.deepEqual(parseEnvFile(formatEnvFile(values)), values);
  assert.deepEqual(parseEnvFile('# c\n\nexport X=1\nY="a b"\n'), { X: "1", Y: "a b" });
  assert.throws(() => parseEnvFile("X=$(id)\n", "f"), /f:1: unquoted special characters/);
  assert.throws(() => parseEnvFile("rm -rf /\n", "f"), /not KEY=value/);
  assert.throws(() => formatEnvFile({ X: "a\nB=1" }), /spans lines/);
  const dir = tmp();
  writeEnvFile(join(dir, "env"), values);
  assert.equal(statSync(join(dir, "env")).mode & 0o777, 0o600, "state files are 0600");
});

test("instance records round-trip and a tampered record is refused, not trusted", () => {
  const dir = tmp();
  const env = microvmEnv({ STATE_ROOT: dir, FC_ROOT: join(dir, "fc") });
  writeInstance(env, record("t1"));
  assert.deepEqual(readInstance(env, "t1"), record("t1"));
  const file = instancePaths(env, "t1").envFile;
  writeFileSync(file, readFileSync(file, "utf8").replace("HOST_PORT='18890'", "HOST_PORT='$(id)'"));
  assert.throws(() => readInstance(env, "t1"), /err_state_corrupt|HOST_PORT/);
  assert.throws(() => readInstance(env, "nope"), /no instance nope/);
});

test("guest addresses: lowest free, never the bridge's; a full pool says how to grow it", () => {
  const env = microvmEnv({
    STATE_ROOT: "/tmp/x",
    SUBNET_CIDR: "10.1.0.0/29",
    BRIDGE_ADDR: "10.1.0.1/29",
  });
  assert.equal(pickGuestIp(env, []), "10.1.0.2");
  const used = ["10.1.0.2", "10.1.0.3", "10.1.0.5"].map((ip, i) =>
    record(`v${i}`, { guestIp: ip }),
  );
  assert.equal(pickGuestIp(env, used), "10.1.0.4");
  const full = ["2", "3", "4", "5", "6"].map((n) => record(`f${n}`, { guestIp: `10.1.0.${n}` }));
  assert.throws(
    () => pickGuestIp(env, full),
    (e: unknown) =>
      e instanceof VmdError &&
      e.code === "err_ip_pool_full" &&
      /SUBNET_CIDR=10.1.0.0\/29 \(5 instances/.test(e.message) &&
      /larger network/.test(e.hint ?? ""),
  );
  // user-mode instances take no bridge address
  assert.equal(
    pickGuestIp(env, [record("u", { network: "user", guestIp: "10.1.0.2" })]),
    "10.1.0.2",
  );
  assert.equal(macForIp("172.16.0.2"), "06:fc:ac:10:00:02");
});

test("ports: instances' and bound ports are skipped; a requested taken port is refused", async () => {
  const proxy = await startProxy({
    listenHost: "127.0.0.1",
    listenPort: 0,
    targetHost: "127.0.0.1",
    targetPort: 9,
  });
  const taken = Number(proxy.address.split(":")[1]);
  try {
    const env = microvmEnv({ STATE_ROOT: "/tmp/x", BASE_PORT: String(taken) });
    const [a, b] = await pickPorts(env, [record("o", { hostPort: taken + 1 })], 2);
    assert.ok(
      a! > taken + 1 && b! > a!,
      `${a}, ${b} skip ${taken} (bound) and ${taken + 1} (an instance's)`,
    );
    await assert.rejects(checkRequestedPort(taken, []), /in use by another program/);
    await assert.rejects(
      checkRequestedPort(taken + 1, [record("o", { hostPort: taken + 1 })]),
      /instance o's port/,
    );
  } finally {
    await proxy.close();
  }
});
