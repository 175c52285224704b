import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { vmdocker } from "../helpers/cli.js";
import { freePort } from "../helpers/ports.js";

const KEY = "11".repeat(32);
const oneLine = (s: string) => s.trim().split("\n");

test("ao connect to a closed port prints the same one-line unreachable error with its fix as results", async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const connect = vmdocker(["ao", "connect", "demo", "--url", url, "--key", KEY]);
  const results = vmdocker(["results", "x".repeat(43), "--url", url, "--key", KEY]);
  assert.notEqual(connect.code, 0);
  assert.equal(oneLine(connect.stderr).length, 1, connect.stderr);
  assert.match(connect.stderr, /no node answers at/);
  assert.match(connect.stderr, /vmdocker node/, "with the fix");
  assert.doesNotMatch(connect.stderr, /^vmdocker: fetch failed$/m);
  assert.equal(connect.stderr, results.stderr);
});

test("module build --ao --wasm names a missing file or a folder in one line with the fix", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-wasm-"));
  const out = join(dir, "mod");
  const missing = vmdocker([
    "module",
    "build",
    "--ao",
    "--wasm",
    join(dir, "missing.wasm"),
    "--key",
    KEY,
    "--out",
    out,
  ]);
  assert.notEqual(missing.code, 0);
  assert.equal(oneLine(missing.stderr).length, 1, missing.stderr);
  assert.match(missing.stderr, /missing\.wasm: no such file/);
  assert.doesNotMatch(missing.stderr, /ENOENT/);
  const folder = vmdocker(["module", "build", "--ao", "--wasm", dir, "--key", KEY, "--out", out]);
  assert.notEqual(folder.code, 0);
  assert.equal(oneLine(folder.stderr).length, 1, folder.stderr);
  assert.match(folder.stderr, /is a folder/);
  assert.doesNotMatch(folder.stderr, /EISDIR/);
});

test("module build --ao --wasm FILE --image NAME is refused, not half-ignored", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-wasm-"));
  const wasm = join(dir, "p.wasm");
  writeFileSync(wasm, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  const r = vmdocker([
    "module",
    "build",
    "--ao",
    "--wasm",
    wasm,
    "--image",
    "foo",
    "--key",
    KEY,
    "--out",
    join(dir, "mod"),
  ]);
  assert.notEqual(r.code, 0);
  assert.equal(oneLine(r.stderr).length, 1, r.stderr);
  assert.match(r.stderr, /--image foo/);
  assert.match(r.stderr, /not both/);
});
