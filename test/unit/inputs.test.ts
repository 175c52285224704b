import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { demuxDockerBuffer } from "../../src/runtime/docker/demux.js";
import { fileDigest, hashParts } from "../../src/runtime/images/inputs.js";
import { splitReference } from "../../src/runtime/docker/client.js";

test("input hashes change with any input and cannot be forged by moving bytes between parts", () => {
  assert.equal(hashParts(["a", "b"]), hashParts(["a", "b"]));
  assert.notEqual(hashParts(["a", "b"]), hashParts(["ab", ""]));
  assert.notEqual(hashParts(["a", "b"]), hashParts(["a", "c"]));
});

test("file digests are real sha256 and follow content changes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-digest-"));
  const f = join(dir, "bin");
  writeFileSync(f, "one");
  assert.equal(await fileDigest(f), createHash("sha256").update("one").digest("hex"));
  writeFileSync(f, "two!");
  utimesSync(f, new Date(), new Date(Date.now() + 5000));
  assert.equal(await fileDigest(f), createHash("sha256").update("two!").digest("hex"));
});

test("multiplexed engine output is split into stdout and stderr in order", () => {
  const frame = (type: number, text: string) => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = type;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  const out = demuxDockerBuffer(
    Buffer.concat([frame(1, "a\n"), frame(2, "oops\n"), frame(1, "b\n")]),
  );
  assert.equal(out.stdout, "a\nb\n");
  assert.equal(out.stderr, "oops\n");
  assert.equal(out.combined, "a\noops\nb\n");
});

test("image references split into repo and tag, registry ports are not tags", () => {
  assert.deepEqual(splitReference("vmdocker/node:24"), { repo: "vmdocker/node", tag: "24" });
  assert.deepEqual(splitReference("localhost:5000/x"), { repo: "localhost:5000/x", tag: "latest" });
  assert.deepEqual(splitReference("localhost:5000/x:1"), { repo: "localhost:5000/x", tag: "1" });
});
