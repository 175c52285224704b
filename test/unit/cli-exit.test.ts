import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { dockerAgent } from "../helpers/cli.js";

const bin = (name: string) => fileURLToPath(new URL(`../../src/cli/${name}.js`, import.meta.url));

/** Runs a CLI whose stdout pipe is closed before it writes (as `| head` does once it has enough). */
function withClosedStdout(
  name: string,
  args: string[],
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin(name), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

for (const [name, args] of [
  ["docker-agent", ["--help"]],
  ["docker-agent", ["--token", "t", "profiles"]],
  ["vmdocker", ["--help"]],
  ["vmdocker", ["host", "--help"]],
] as const) {
  test(`${name} ${args.join(" ")} into a closed pipe ends quietly`, async () => {
    const r = await withClosedStdout(name, [...args]);
    assert.equal(r.stderr, "", "no stack trace");
    assert.equal(r.code, 0);
  });
}

test("docker-agent's own errors exit 125 (as Docker's), so 1-124 and 126-255 are the command's", () => {
  const hubDown = dockerAgent(["--hub", "http://127.0.0.1:9", "--token", "t", "list"]);
  assert.equal(hubDown.code, 125, hubDown.stderr);
  assert.match(hubDown.stderr, /^docker-agent: /);
  const badFlag = dockerAgent(["list", "--no-such-flag"]);
  assert.equal(badFlag.code, 125, badFlag.stderr);
  const badName = dockerAgent(["--token", "t", "create", "Bad Name"]);
  assert.equal(badName.code, 125, badName.stderr);
  assert.equal(dockerAgent(["--help"]).code, 0);
});

test("vm-setup without --instance is one line with the fix (not commander's), before anything is made", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-vmsetup-noid-"));
  const r = spawnSync(process.execPath, [bin("vm-setup")], {
    encoding: "utf8",
    env: { ...process.env, STATE_ROOT: join(dir, "s"), FC_ROOT: join(dir, "f") },
  });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, "vm-setup: no instance id given (fix: pass --instance my-bot)\n");
  assert.deepEqual(readdirSync(dir), [], "nothing created");
});
