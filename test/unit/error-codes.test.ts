import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, hintOf, statusOf } from "../../src/error-codes.js";
import { VmdError } from "../../src/errors.js";
import { ProtocolError } from "../../src/protocol/errors.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) ? [path] : [];
  });
}

test("every err_* code in the source is registered, with an HTTP status and a hint", () => {
  const used = new Map<string, string>();
  for (const file of sources(join(root, "src")))
    for (const m of readFileSync(file, "utf8").matchAll(/["'`](err_[a-z0-9_]+)/g))
      used.set(m[1]!, file.slice(root.length));
  const missing = [...used].filter(([code]) => !(code in ERROR_CODES));
  assert.deepEqual(missing, [], "register these in src/error-codes.ts");
  for (const [code, [status, hint]] of Object.entries(ERROR_CODES)) {
    assert.ok(status >= 300 && status < 600, `${code}: ${status} is an HTTP error status`);
    assert.ok(hint.length > 0, `${code} has a hint`);
  }
});

test("the README lists every code with its status", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const rows = new Map(
    [...readme.matchAll(/^\| `(err_[a-z0-9_]+)` +\| (\d+) +\|/gm)].map((m) => [
      m[1]!,
      Number(m[2]),
    ]),
  );
  for (const [code, [status]] of Object.entries(ERROR_CODES))
    assert.equal(rows.get(code), status, `README's error table: ${code} answered with ${status}`);
  assert.deepEqual(
    [...rows.keys()].filter((c) => !(c in ERROR_CODES)),
    [],
    "the README lists no code that is gone",
  );
});

test("errors take their default hint and status from the registry; a code with a detail counts as its code", () => {
  const e = new ProtocolError("err_process_stopped", "since 12:00");
  assert.ok(e instanceof VmdError);
  assert.equal(e.message, "err_process_stopped: since 12:00");
  assert.equal(e.hint, hintOf("err_process_stopped"));
  assert.equal(new VmdError("err_not_found_mod", "no file", "copy it").hint, "copy it");
  assert.equal(statusOf("err_unknown_agent"), 404);
  assert.equal(statusOf("err_body_too_large: at most 10 bytes"), 413);
  assert.equal(statusOf("err_process_not_found"), 400, "hymx's codes answer 400, as upstream");
});
