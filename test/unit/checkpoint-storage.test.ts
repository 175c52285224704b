import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";
import {
  ensureCriuOptions,
  criuOptionsState,
  removeCriuOptions,
} from "../../src/host/criu-options.js";
import { readCheckpoint, writeCheckpoint } from "../../src/node/checkpoints.js";
import { Cryptor } from "../../src/protocol/ecies.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { MemoryImages } from "../../src/vm/vmdocker/memory-images.js";
import { archiveWorkspace, overwriteWorkspace } from "../../src/vm/vmdocker/workspace-archive.js";
import type { Env } from "../../src/protocol/hymx.js";

const KEY_A = "11".repeat(32);
const KEY_B = "22".repeat(32);

test("a criu restore's in-place workspace keeps the inode of every file that was there and drops what the checkpoint lacks", async () => {
  const ws = mkdtempSync(join(tmpdir(), "vmd-ws-"));
  mkdirSync(join(ws, "db"));
  writeFileSync(join(ws, "db", "state.sqlite"), "at the checkpoint");
  const archive = await archiveWorkspace(ws);
  const inode = statSync(join(ws, "db", "state.sqlite")).ino;
  writeFileSync(join(ws, "db", "state.sqlite"), "written after the checkpoint, longer");
  writeFileSync(join(ws, "db", "state.sqlite-wal"), "new");
  mkdirSync(join(ws, "later"));
  await overwriteWorkspace(ws, archive);
  assert.equal(readFileSync(join(ws, "db", "state.sqlite"), "utf8"), "at the checkpoint");
  assert.equal(statSync(join(ws, "db", "state.sqlite")).ino, inode, "same inode");
  assert.deepEqual(readdirSync(ws).sort(), ["db"]);
  assert.deepEqual(readdirSync(join(ws, "db")), ["state.sqlite"]);
  await assert.rejects(overwriteWorkspace(ws, Buffer.from("not a tar")), /tar .* failed/);
});

test("a criu restore's in-place workspace keeps files whose names tar's listing would escape (backslash, tab, newline, non-UTF-8)", async () => {
  const ws = mkdtempSync(join(tmpdir(), "vmd-ws-"));
  const odd = ["back\\slash.txt", "tab\tname", "two\nlines", "-rf", "ümlaut é"];
  for (const name of odd) writeFileSync(join(ws, name), name);
  mkdirSync(join(ws, "proj\\v2", "src"), { recursive: true });
  writeFileSync(join(ws, "proj\\v2", "src", "main.c"), "int main;");
  const latin1 = Buffer.concat([Buffer.from(ws + "/"), Buffer.from([0x6e, 0xe9, 0x65])]);
  writeFileSync(latin1, "not utf-8");
  const archive = await archiveWorkspace(ws);
  writeFileSync(join(ws, "tab\tname"), "changed after the checkpoint");
  writeFileSync(join(ws, "later\\file"), "new");
  await overwriteWorkspace(ws, archive);
  for (const name of odd) assert.equal(readFileSync(join(ws, name), "utf8"), name, name);
  assert.equal(readFileSync(join(ws, "proj\\v2", "src", "main.c"), "utf8"), "int main;");
  assert.equal(readFileSync(latin1, "utf8"), "not utf-8");
  assert.ok(!existsSync(join(ws, "later\\file")), "what the checkpoint lacks is removed");
  assert.ok(
    !readdirSync(join(ws, "..")).some((n) => n.startsWith(`${basename(ws)}.list-`)),
    "no listing folder is left beside the workspace",
  );
});

test("memory images: a folder stored as a plain tar by hash with mode 0600, checked before use, older ones pruned but the committed one kept", async () => {
  const root = mkdtempSync(join(tmpdir(), "vmd-mem-"));
  const dir = join(root, "checkpoint_memory");
  const images = new MemoryImages(dir);
  const folder = (name: string, content: string) => {
    const d = join(root, name);
    mkdirSync(d);
    writeFileSync(join(d, "pages-1.img"), content);
    return d;
  };
  const a = await images.put("pid1", folder("a", "image a"));
  const b = await images.put("pid1", folder("b", "image b"), a.sha256);
  await images.put("pid2", folder("other", "other process"));
  assert.equal(statSync(join(dir, `pid1-${a.sha256}.tar`)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, `pid1-${a.sha256}.tar`)).size, a.bytes);
  const c = await images.put("pid1", folder("c", "image c"), b.sha256);
  const left = readdirSync(dir).sort();
  assert.deepEqual(
    left.filter((f) => f.startsWith("pid1-")).sort(),
    [`pid1-${b.sha256}.tar`, `pid1-${c.sha256}.tar`].sort(),
  );
  assert.equal(left.filter((f) => f.startsWith("pid2-")).length, 1, "other processes untouched");
  const into = join(root, "restored");
  await images.unpack(await images.verified("pid1", c), into);
  assert.equal(readFileSync(join(into, "pages-1.img"), "utf8"), "image c");
  await assert.rejects(
    images.verified("pid1", a),
    /the memory image [0-9a-f]{12} of this checkpoint is not in /,
  );
  writeFileSync(join(dir, `pid1-${c.sha256}.tar`), "tampered");
  await assert.rejects(images.verified("pid1", c), /does not match its hash/);
  await assert.rejects(images.put("pid1", join(root, "no-such-folder")), /tar -c failed/);
  assert.ok(!readdirSync(dir).some((f) => f.endsWith(".partial")), "no partial file is left");

  // An image of an earlier version (tar.gz) is still read.
  const old = join(root, "old.tar.gz");
  execFileSync("tar", ["-czf", old, "-C", folder("old", "image old"), "."]);
  const sha256 = createHash("sha256").update(readFileSync(old)).digest("hex");
  renameSync(old, join(dir, `pid3-${sha256}.tar.gz`));
  const legacy = join(root, "legacy");
  await images.unpack(await images.verified("pid3", { sha256, bytes: 0 }), legacy);
  assert.equal(readFileSync(join(legacy, "pages-1.img"), "utf8"), "image old");

  images.drop("pid1");
  assert.ok(!readdirSync(dir).some((f) => f.startsWith("pid1-")), "drop removes a key's images");
});

test("memory images: a planted link is never written through or read, the folder is made 0700, a failed write is one coded line", async () => {
  const root = mkdtempSync(join(tmpdir(), "vmd-mem-"));
  const dir = join(root, "checkpoint_memory");
  mkdirSync(dir, { mode: 0o777 });
  chmodSync(dir, 0o777);
  const victim = join(root, "victim");
  writeFileSync(victim, "not yours");
  symlinkSync(victim, join(dir, "pid1.partial"));
  const images = new MemoryImages(dir);
  const from = join(root, "dump");
  mkdirSync(from);
  writeFileSync(join(from, "pages-1.img"), "secret memory");
  const ref = await images.put("pid1", from);
  assert.equal(readFileSync(victim, "utf8"), "not yours", "the link's target is untouched");
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.ok(lstatSync(join(dir, `pid1-${ref.sha256}.tar`)).isFile());

  // An image replaced by a link or a folder is not read.
  rmSync(join(dir, `pid1-${ref.sha256}.tar`));
  symlinkSync(victim, join(dir, `pid1-${ref.sha256}.tar`));
  await assert.rejects(images.verified("pid1", ref), { code: "err_checkpoint_memory_missing" });
  rmSync(join(dir, `pid1-${ref.sha256}.tar`));
  mkdirSync(join(dir, `pid1-${ref.sha256}.tar`));
  await assert.rejects(images.verified("pid1", ref), { code: "err_checkpoint_memory_missing" });

  // The store's folder is a file: one line, its own code, a fix that names the folder.
  const blocked = new MemoryImages(victim);
  await assert.rejects(
    blocked.put("pid1", from),
    (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, "err_checkpoint_memory_write");
      assert.ok(!err.message.includes("\n"), err.message);
      assert.match(err.hint ?? "", /free space and the permissions of .*victim/);
      return true;
    },
  );
});

test("checkpoint items: the VM's state is stored encrypted to the node's key, and only that key reads it back", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-ckp-"));
  const env = { Nonce: 7 } as unknown as Env;
  const snap = { Env: env, Data: '{"secret":"sk-live-123"}', Outbox: "{}" };
  const id = writeCheckpoint(dir, new EthereumSigner(KEY_A), "pid", snap, new Cryptor(KEY_A));
  const raw = readFileSync(join(dir, `ckp-${id}.json`), "utf8");
  const data = Buffer.from((JSON.parse(raw) as { data: string }).data, "base64url").toString();
  assert.ok(!data.includes("sk-live-123"), "no plaintext state in the signed item");
  assert.deepEqual(readCheckpoint(dir, id, new Cryptor(KEY_A)), snap);
  assert.throws(
    () => readCheckpoint(dir, id, new Cryptor(KEY_B)),
    /encrypted for another node key/,
  );
  assert.throws(() => readCheckpoint(dir, id), /no encryption key/);
  const plain = writeCheckpoint(dir, new EthereumSigner(KEY_A), "pid", snap);
  assert.deepEqual(readCheckpoint(dir, plain), snap, "a node without a key writes plain state");
});

test("runc's CRIU options: written when absent, an operator's own file is left alone, removed only when ours", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-criu-"));
  const file = join(dir, "criu", "runc.conf");
  const marker = join(dir, "written");
  assert.deepEqual(criuOptionsState(file).missing, ["tcp-close", "file-locks"]);
  assert.equal(ensureCriuOptions(file).ok, true);
  assert.equal(removeCriuOptions(marker, file), false, "another state folder's stop keeps it");
  assert.equal(criuOptionsState(file).ok, true);
  writeFileSync(marker, "");
  assert.equal(removeCriuOptions(marker, file), true);
  writeFileSync(file, "# mine\n--tcp-close\n");
  const theirs = ensureCriuOptions(file);
  assert.deepEqual(theirs, { ok: false, ours: false, missing: ["file-locks"], written: false });
  assert.equal(readFileSync(file, "utf8"), "# mine\n--tcp-close\n", "not rewritten");
  writeFileSync(marker, "");
  assert.equal(removeCriuOptions(marker, file), false, "never an operator's own file");
});
