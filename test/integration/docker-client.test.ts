import assert from "node:assert/strict";
import { after, test } from "node:test";
import { IMAGES } from "../../src/runtime/images/builder.js";
import { startImageUpload } from "../../src/runtime/docker/image-upload.js";
import {
  ContainerNotFoundError,
  ImageNotFoundError,
  NameConflictError,
} from "../../src/runtime/docker/errors.js";
import { testClient, uniqueName, waitFor } from "../helpers/engine.js";

const client = testClient();
const created: string[] = [];
after(async () => {
  for (const id of created) await client.removeContainer(id, { force: true }).catch(() => {});
});

test("the engine answers with an API version vmdocker supports", async () => {
  await client.ping();
  const v = await client.version();
  assert.match(v.ApiVersion, /^1\.\d+$/);
  assert.ok(Number(v.ApiVersion.split(".")[1]) >= 41);
});

test("container lifecycle: create, start, exec, logs, stats, stop, remove", async () => {
  const name = uniqueName("life");
  const id = await client.createContainer({
    name,
    Image: IMAGES.busybox,
    Cmd: ["sh", "-c", "echo started; echo warn >&2; while true; do sleep 1; done"],
    HostConfig: {
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Memory: 64 << 20,
      PidsLimit: 64,
    },
  });
  created.push(id);
  await client.startContainer(id);
  const info = await client.inspectContainer(id);
  assert.equal(info.State.Running, true);
  assert.equal(info.HostConfig.ReadonlyRootfs, true);

  const ok = await client.exec(id, ["sh", "-c", "echo out; echo err >&2; exit 7"]);
  assert.deepEqual(ok, { exitCode: 7, stdout: "out\n", stderr: "err\n" });
  const ro = await client.exec(id, ["sh", "-c", "touch /x"]);
  assert.notEqual(ro.exitCode, 0, "the root filesystem is read-only");
  assert.match(ro.stderr, /Read-only file system/);

  const logs = await waitFor("logs", async () => {
    const l = await client.logs(id, { tail: 10 });
    return l.includes("warn") && l;
  });
  assert.match(logs, /started\n/);

  const stats = await client.stats(id);
  assert.ok(stats.memory_stats.usage === undefined || stats.memory_stats.usage > 0);
  assert.equal(stats.memory_stats.limit, 64 << 20);

  await client.stopContainer(id, 1);
  assert.equal((await client.inspectContainer(id)).State.Running, false);
  await client.stopContainer(id, 1); // stopping a stopped container is not an error
  await client.removeContainer(id, { force: true });
  assert.equal(await client.findContainer(id), null);
  await assert.rejects(client.inspectContainer(id), ContainerNotFoundError);
});

test("typed errors: a taken name and a missing image", async () => {
  const name = uniqueName("dup");
  created.push(await client.createContainer({ name, Image: IMAGES.busybox, Cmd: ["true"] }));
  await assert.rejects(
    client.createContainer({ name, Image: IMAGES.busybox, Cmd: ["true"] }),
    NameConflictError,
  );
  await assert.rejects(
    client.createContainer({ name: uniqueName("noimg"), Image: "vmdocker/does-not-exist:1" }),
    (err: unknown) =>
      err instanceof ImageNotFoundError && err.image === "vmdocker/does-not-exist:1",
  );
  assert.equal(await client.inspectImage("vmdocker/does-not-exist:1"), null);
});

test("images stream out (save) and back in (load) with the same id, and can be re-tagged", async () => {
  const source = await client.inspectImage(IMAGES.busybox);
  assert.ok(source);
  const tag = `vmdocker/test-roundtrip:${uniqueName("t")}`;
  await client.tagImage(IMAGES.busybox, tag);
  const tar = await client.saveImage(tag);
  const chunks: Buffer[] = [];
  for await (const c of tar) chunks.push(c as Buffer);
  await client.removeImage(tag);
  assert.equal(await client.inspectImage(tag), null);
  const { Readable } = await import("node:stream");
  const loaded = await client.loadImage(Readable.from(Buffer.concat(chunks)));
  assert.ok(loaded.includes(tag), `loaded ${loaded.join(",")}`);
  assert.equal((await client.inspectImage(tag))?.Id, source.Id);
  await client.removeImage(tag);
});

test("an image upload copies each piece (the caller reuses one buffer) and an archive the engine refuses fails the upload", async () => {
  const source = await client.inspectImage(IMAGES.busybox);
  assert.ok(source);
  const tag = `vmdocker/test-upload:${uniqueName("t")}`;
  await client.tagImage(IMAGES.busybox, tag);
  const tar: Buffer[] = [];
  for await (const c of await client.saveImage(tag)) tar.push(c as Buffer);
  const archive = Buffer.concat(tar);
  await client.removeImage(tag);

  // Two slots and 64 KB pieces: the ring wraps many times, and the caller's one buffer is
  // overwritten as soon as each write resolves.
  const upload = await startImageUpload(client, 2);
  const piece = Buffer.alloc(64 << 10);
  for (let at = 0; at < archive.length; at += piece.length) {
    const n = archive.copy(piece, 0, at, at + piece.length);
    await upload.write(piece.subarray(0, n));
    piece.fill(0xff);
  }
  const loaded = await upload.end();
  assert.ok(loaded.includes(tag), `loaded ${loaded.join(",")}`);
  assert.equal((await client.inspectImage(tag))?.Id, source.Id);
  await client.removeImage(tag);

  const refused = await startImageUpload(client);
  await refused.write(Buffer.from("this is not a tar archive, gzip or plain".repeat(2000)));
  await assert.rejects(refused.end(), /./);
  assert.equal(await client.inspectImage(tag), null);
});
