import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { IMAGES } from "../../src/runtime/images/builder.js";
import { vmdocker } from "../helpers/cli.js";

const oneLine = (s: string) => s.trim().split("\n").length === 1;

test("a malformed DOCKER_HOST is one line with the fix, not a stack trace", () => {
  const r = vmdocker(["images", "list"], { DOCKER_HOST: "not-an-address" });
  assert.equal(r.code, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(
    r.stderr,
    /DOCKER_HOST="not-an-address" is not an engine address \(fix: use unix:\/\//,
  );
});

test("an engine that is not running is one line naming where it looked and what to do", () => {
  const dead = join(mkdtempSync(join(tmpdir(), "vmd-dead-")), "docker.sock");
  const r = vmdocker(["images", "list"], { DOCKER_HOST: `unix://${dead}` });
  assert.equal(r.code, 1);
  assert.ok(oneLine(r.stderr), r.stderr);
  assert.match(
    r.stderr,
    /Docker engine is not answering at unix:\/\/.*docker\.sock \(ENOENT\) \(fix: start one with `vmdocker host setup`/,
  );
  const doctor = vmdocker(["host", "doctor", "--json"], { DOCKER_HOST: `unix://${dead}` });
  assert.equal(doctor.code, 1, "doctor fails when a requirement is missing");
  const engine = (
    JSON.parse(doctor.stdout) as { requirement: string; status: string; fix: string }[]
  ).find((c) => c.requirement === "engine");
  assert.equal(engine?.status, "missing");
  assert.match(engine?.fix ?? "", /vmdocker host setup/);
});

test("doctor --json reports a working engine, experimental mode and CRIU >= 4 after setup", () => {
  const r = vmdocker(["host", "doctor", "--json"]);
  const checks = JSON.parse(r.stdout) as { requirement: string; status: string; detail: string }[];
  const by = Object.fromEntries(checks.map((c) => [c.requirement, c]));
  for (const name of [
    "node",
    "engine",
    "api version",
    "experimental",
    "criu",
    "cgroups",
    "kvm",
    "redis",
  ]) {
    assert.ok(by[name], `doctor checks ${name}`);
  }
  assert.equal(by.engine!.status, "ok");
  assert.equal(by.experimental!.status, "ok");
  assert.equal(by.criu!.status, "ok", by.criu!.detail);
  assert.ok(Number(/criu (\d+)\./.exec(by.criu!.detail)?.[1]) >= 4, by.criu!.detail);
  assert.equal(r.code, 0);
});

test("a second images build with nothing changed reuses every image", () => {
  const r = vmdocker(["images", "build", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const built = JSON.parse(r.stdout) as { reference: string; cached: boolean }[];
  assert.deepEqual(
    built.map((b) => b.reference),
    [
      "vmdocker/rootfs:bookworm",
      "vmdocker/base:bookworm",
      "vmdocker/node:24",
      "vmdocker/runtime-test:latest",
      IMAGES.emscripten,
      IMAGES["runtime-ao"],
      IMAGES.openclaw,
      "openclaw-agent-base:latest",
      "vmdocker/busybox:latest",
    ],
  );
  assert.ok(
    built.every((b) => b.cached),
    JSON.stringify(built),
  );
  const list = JSON.parse(vmdocker(["images", "list", "--json"]).stdout) as { present: boolean }[];
  assert.ok(list.every((i) => i.present));
});

test("host setup run again changes nothing and says the engine was already there", () => {
  const r = vmdocker(["host", "setup", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    checkpoints: boolean;
    redis: boolean;
    criu: { works: boolean };
  };
  assert.equal(out.checkpoints, true);
  assert.equal(out.redis, true);
  assert.match(r.stderr, /docker engine: (started earlier by vmdocker|already running)/);
});

test("bad flags and unknown commands are refused; help shows an example", () => {
  const bad = vmdocker(["images", "build", "--frobnicate"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /unknown option '--frobnicate'/);
  const unknown = vmdocker(["fly"]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /unknown command 'fly'/);
  const help = vmdocker(["host", "doctor", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Example:\n\s+vmdocker host doctor/);
  // The help names what a build makes: every image, not just the base and Node layers.
  const buildHelp = vmdocker(["images", "build", "--help"]);
  assert.equal(buildHelp.code, 0);
  const text = buildHelp.stdout.replace(/\s+/g, " ");
  assert.match(text, new RegExp(`build vmdocker's ${Object.keys(IMAGES).length} images`));
  for (const reference of Object.values(IMAGES)) assert.ok(text.includes(reference), reference);
});

test("host stop with a state folder where nothing was started stops nothing", () => {
  const r = vmdocker(["--state-dir", mkdtempSync(join(tmpdir(), "vmd-empty-")), "host", "stop"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /no engine started by vmdocker is running/);
  assert.match(r.stdout, /no redis-server started by vmdocker is running/);
  assert.doesNotMatch(r.stdout, /removed \/etc\/criu/, "runc's CRIU options stay for the engine");
});
