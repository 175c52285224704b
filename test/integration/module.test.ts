import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";
import { pipeline } from "node:stream/promises";
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import * as arbundles from "@dha-team/arbundles";
import { buildModule } from "../../src/module/build.js";
import { DEFAULT_START_COMMAND } from "../../src/module/check.js";
import { IMAGES, ImageBuilder, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { INPUT_LABEL } from "../../src/runtime/images/inputs.js";
import { debianMirror } from "../../src/sys/apt.js";
import { writeModuleFile } from "../../src/module/write.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { moduleTags } from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { silentProgress } from "../../src/progress.js";
import { vmdocker } from "../helpers/cli.js";
import { paths, testClient, uniqueName } from "../helpers/engine.js";

const KEY = "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";
const client = testClient();
const work = mkdtempSync(join(tmpdir(), "vmd-mod-"));
const marker = randomBytes(8).toString("hex");
const image = `vmdocker/test-mod:${uniqueName("m")}`;
const images = [image];
let built: { id: string; file: string };
let imageId: string;

async function buildImage(tag: string, run: string): Promise<string> {
  const ctx = mkdtempSync(join(tmpdir(), "vmd-ctx-"));
  writeFileSync(join(ctx, "Dockerfile"), `FROM vmdocker/busybox:latest\nRUN ${run}\n`);
  return client.buildImage({ context: ctx, src: ["Dockerfile"] }, { tag });
}

async function runInImage(ref: string, cmd: string[]): Promise<string> {
  const id = await client.createContainer({ Image: ref, Cmd: cmd });
  await client.startContainer(id);
  await client.docker.getContainer(id).wait();
  const out = await client.logs(id);
  await client.removeContainer(id, { force: true });
  return out;
}

before(async () => {
  imageId = await buildImage(image, `echo ${marker} > /marker`);
});
after(async () => {
  for (const ref of images) await client.removeImage(ref, true).catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

test("a vmdocker image built from other sources than these is refused with the fix; current ones pass", async () => {
  const stale = `vmdocker/test-stale:${uniqueName("s")}`;
  images.push(stale);
  const ctx = mkdtempSync(join(tmpdir(), "vmd-ctx-"));
  writeFileSync(join(ctx, "Dockerfile"), "FROM vmdocker/busybox:latest\n");
  await client.buildImage(
    { context: ctx, src: ["Dockerfile"] },
    { tag: stale, labels: { [INPUT_LABEL]: "0".repeat(64) } },
  );
  const builder = new ImageBuilder(
    client,
    { mirror: debianMirror(), cacheDir: paths.cache },
    silentProgress,
  );
  await assert.rejects(
    builder.check("busybox", stale),
    (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, "err_image_stale");
      assert.match(err.message, /older sources/);
      assert.equal(err.hint, "run `vmdocker images build`");
      return true;
    },
  );
  await builder.check("busybox");
});

test("module build writes a signed module that module verify and an independent implementation accept", async () => {
  const r = vmdocker([
    "module",
    "build",
    "--image",
    image,
    "--key",
    KEY,
    "--out",
    join(work, "mod"),
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  built = JSON.parse(r.stdout) as { id: string; file: string };
  assert.match(built.id, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(built.file, join(work, "mod", `mod-${built.id}.json`));

  const v = vmdocker(["module", "verify", built.id, "--dir", work, "--json"]);
  assert.equal(v.code, 0, v.stderr);
  const verified = JSON.parse(v.stdout) as { ok: boolean; signer: string };
  assert.equal(verified.ok, true);
  assert.equal(verified.signer, "0x972AeD684D6f817e1b58AF70933dF1b4a75bfA51");

  const item = DataItem.fromJSON(JSON.parse(readFileSync(built.file, "utf8")));
  assert.equal(item.id, built.id);
  assert.deepEqual(
    item.tags.map((t) => t.name),
    [
      "Data-Protocol",
      "Variant",
      "Type",
      "Module-Format",
      "Memory-Limit",
      "Compute-Limit",
      "Sandbox-Agent",
      "Start-Command",
      "Image-Name",
      "Image-ID",
      "Image-Source",
      "Image-Archive-Format",
    ],
  );
  assert.equal(item.tag("Image-ID"), imageId);
  assert.equal(item.tag("Memory-Limit"), "");
  assert.equal(
    await arbundles.DataItem.verify(item.encode()),
    true,
    "arbundles verifies the module item",
  );
  assert.equal(new arbundles.DataItem(item.encode()).id, built.id);

  const list = JSON.parse(vmdocker(["module", "list", "--dir", work, "--json"]).stdout) as {
    id: string;
    imageName: string;
  }[];
  assert.deepEqual(
    list.map((m) => [m.id, m.imageName]),
    [[built.id, image]],
  );
});

test("module build without --key signs with the key kept in the state folder, as every other verb; only a module given an OpenClaw version carries Openclaw-Version", () => {
  const stateDir = mkdtempSync(join(tmpdir(), "vmd-mod-state-"));
  // A fresh state folder for the key; the engine stays the one the tests use.
  const noKeys = {
    VMDOCKER_KEY: "",
    VMDOCKER_PRIVATE_KEY: "",
    DOCKER_HOST: client.address.display,
  };
  const build = (...extra: string[]) =>
    vmdocker(
      [
        "module",
        "build",
        "--image",
        image,
        "--state-dir",
        stateDir,
        "--out",
        join(work, "mod-default-key"),
        "--json",
        ...extra,
      ],
      noKeys,
    );
  const first = build();
  assert.equal(first.code, 0, first.stderr);
  const made = /created a client key (0x[0-9a-fA-F]{40}) in (\S+)/.exec(first.stderr);
  assert.ok(made, `the key is made once and said so: ${first.stderr}`);
  assert.equal(made[2], join(stateDir, "client-key.hex"));
  const itemOf = (out: string) => {
    const file = (JSON.parse(out) as { file: string }).file;
    return DataItem.fromJSON(JSON.parse(readFileSync(file, "utf8")));
  };
  const plain = itemOf(first.stdout);
  assert.equal(
    plain.tag("Openclaw-Version"),
    undefined,
    "a module without OpenClaw has no OpenClaw tag",
  );
  const second = build("--openclaw-version", "2026.9.6");
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /created a client key/, "the kept key is reused");
  const tagged = itemOf(second.stdout);
  assert.equal(tagged.tag("Openclaw-Version"), "2026.9.6");
  for (const item of [plain, tagged])
    assert.equal(
      (
        JSON.parse(
          vmdocker([
            "module",
            "inspect",
            join(work, "mod-default-key", `mod-${item.id}.json`),
            "--json",
          ]).stdout,
        ) as { signer: string }
      ).signer,
      made[1],
      "signed by the state folder's key",
    );
  rmSync(stateDir, { recursive: true, force: true });
});

test("module build of vmdocker's runtime image writes the image's own runtime server as Start-Command (upstream's default script is not in it); other images keep upstream's default", () => {
  const out = join(work, "mod-start-command");
  const startOf = (img: string) => {
    const r = vmdocker(["module", "build", "--image", img, "--key", KEY, "--out", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const file = (JSON.parse(r.stdout) as { file: string }).file;
    return DataItem.fromJSON(JSON.parse(readFileSync(file, "utf8"))).tag("Start-Command");
  };
  assert.equal(startOf(IMAGES["runtime-test"]), RUNTIME_START_COMMAND);
  assert.equal(startOf(image), DEFAULT_START_COMMAND);
});

test("a tampered module fails module verify", () => {
  const copy = join(work, "tampered.json");
  const json = JSON.parse(readFileSync(built.file, "utf8")) as {
    tags: { name: string; value: string }[];
    tagsBy?: string;
  };
  json.tags.find((t) => t.name === "Start-Command")!.value = "/bin/evil";
  delete json.tagsBy;
  writeFileSync(copy, JSON.stringify(json));
  const v = vmdocker(["module", "verify", copy, "--json"]);
  assert.equal(v.code, 1);
  assert.equal((JSON.parse(v.stdout) as { ok: boolean }).ok, false);
});

test("cold start: with the image deleted, the loader restores it from the module file with the right id", async () => {
  await client.removeImage(image, true);
  assert.equal(await client.inspectImage(image), null);
  const r = vmdocker(["module", "load", built.id, "--dir", work, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as { how: string }).how, "loaded");
  assert.equal((await client.inspectImage(image))?.Id, imageId);
  assert.equal((await runInImage(image, ["cat", "/marker"])).trim(), marker);
  const again = vmdocker(["module", "load", built.id, "--dir", work, "--json"]);
  assert.equal((JSON.parse(again.stdout) as { how: string }).how, "present");
});

test("a corrupt archive, a truncated file, a folder, a wrong Image-ID, an archive naming another tag and a missing module each fail clearly and leave every tag as it was", async () => {
  const json = readFileSync(built.file, "utf8");
  const dataStart = json.indexOf('"data":"') + 8;
  const cases: [string, string, RegExp][] = [];

  const corrupt = join(work, "corrupt.json");
  const mid = dataStart + Math.floor((json.indexOf('"', dataStart) - dataStart) / 2);
  writeFileSync(
    corrupt,
    json.slice(0, mid) + (json[mid] === "A" ? "B" : "A") + json.slice(mid + 1),
  );
  // The engine's complaint about the broken tar is not the reason: the file's hash is.
  cases.push(["corrupt", corrupt, /signature of .* does not match its content/]);

  const truncated = join(work, "truncated.json");
  writeFileSync(truncated, json);
  truncateSync(truncated, Math.floor(statSync(truncated).size / 2));
  cases.push(["truncated", truncated, /truncated/]);
  const folder = join(work, "folder.json");
  mkdirSync(folder);
  cases.push(["a folder", folder, /is not a module file \(a folder or device\)/]);

  // A correctly signed module whose Image-ID is not the image its archive holds.
  const gz = join(work, "busybox.tar.gz");
  const sha = createHash("sha384");
  let length = 0;
  await pipeline(
    await client.saveImage("vmdocker/busybox:latest"),
    createGzip(),
    async function* (src) {
      for await (const c of src) {
        sha.update(c as Buffer);
        length += (c as Buffer).length;
        yield c;
      }
    },
    createWriteStream(gz),
  );
  const wrongTags = moduleTags({
    moduleFormat: "hymx.vmdocker.v0.0.1",
    tags: [
      { name: "Image-Name", value: image },
      { name: "Image-ID", value: `sha256:${"0".repeat(64)}` },
      { name: "Image-Source", value: "module-data" },
      { name: "Image-Archive-Format", value: "docker-save+gzip" },
    ],
  });
  mkdirSync(join(work, "wrong"), { recursive: true });
  const wrong = await writeModuleFile(join(work, "wrong"), new EthereumSigner(KEY), wrongTags, {
    file: gz,
    length,
    sha384: sha.digest(),
  });
  cases.push(["wrong Image-ID", wrong.file, /not Image-ID sha256:0000/]);

  for (const [name, file, expected] of cases) {
    await client.removeImage(image, true).catch(() => {});
    const r = vmdocker(["module", "load", file]);
    assert.equal(r.code, 1, `${name}: ${r.stderr}`);
    const last = r.stderr.trim().split("\n").at(-1)!;
    assert.match(last, /^vmdocker: /, name);
    assert.match(last, expected, name);
    assert.equal(await client.inspectImage(image), null, `${name}: no half-tagged ${image}`);
  }
  assert.ok(
    await client.inspectImage("vmdocker/busybox:latest"),
    "the loaded busybox archive did not remove the existing busybox image",
  );

  // An altered module whose archive names another, existing tag: the load is refused and that tag
  // points where it pointed before (else dropping a file in mod/ could repoint a trusted name).
  const victim = `vmdocker/test-mod:${uniqueName("v")}`;
  images.push(victim);
  const hostileId = await buildImage(victim, "echo hostile > /marker");
  const hostile = join(work, "hostile.tar.gz");
  await pipeline(await client.saveImage(victim), createGzip(), createWriteStream(hostile));
  const busyboxId = (await client.inspectImage("vmdocker/busybox:latest"))!.Id;
  await client.tagImage(busyboxId, victim);
  const moved = join(work, "moved.json");
  const dataEnd = json.indexOf('"', dataStart);
  writeFileSync(
    moved,
    json.slice(0, dataStart) + readFileSync(hostile).toString("base64url") + json.slice(dataEnd),
  );
  await client.removeImage(image, true).catch(() => {});
  const r = vmdocker(["module", "load", moved]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr.trim().split("\n").at(-1)!, /signature of .* does not match its content/);
  assert.equal((await client.inspectImage(victim))?.Id, busyboxId, "the archive moved a tag");
  assert.equal(await client.inspectImage(image), null);
  await client.removeImage(hostileId, true).catch(() => {});

  const missing = vmdocker(["module", "load", "x".repeat(43), "--dir", work]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /module x{43} has no file in .*\(fix: build it with `vmdocker module build`/,
  );
});

test("memory: a 200 MB random-content module loads back with loader RSS growth under 100 MB", async () => {
  const big = `vmdocker/test-big:${uniqueName("b")}`;
  images.push(big);
  const bigId = await buildImage(big, "head -c 209715200 /dev/urandom > /blob");
  const mod = await buildModule(
    client,
    {
      source: { mode: "pull", image: big },
      signer: new EthereumSigner(KEY),
      outDir: join(work, "big"),
    },
    silentProgress,
  );
  assert.ok(mod.archiveBytes > 200 * 1024 * 1024, `archive is ${mod.archiveBytes} bytes`);
  await client.removeImage(big, true);

  const probe = fileURLToPath(new URL("../helpers/load-probe.js", import.meta.url));
  const res = spawnSync(process.execPath, [probe, mod.file], {
    encoding: "utf8",
    timeout: 300_000,
  });
  assert.equal(res.status, 0, res.stderr);
  const m = JSON.parse(res.stdout.trim().split("\n").at(-1)!) as {
    baseline: number;
    peak: number;
    how: string;
    seconds: number;
  };
  assert.equal(m.how, "loaded");
  const growthMB = (m.peak - m.baseline) / 2 ** 20;
  console.log(
    `# module load: ${(mod.archiveBytes / 2 ** 20).toFixed(0)} MB archive in ${m.seconds.toFixed(1)} s, loader RSS ${(m.baseline / 2 ** 20).toFixed(0)} MB → peak ${(m.peak / 2 ** 20).toFixed(0)} MB (growth ${growthMB.toFixed(1)} MB)`,
  );
  assert.ok(growthMB < 100, `peak RSS grew by ${growthMB.toFixed(1)} MB`);
  assert.equal((await client.inspectImage(big))?.Id, bigId);
});
