import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkModule } from "../../src/module/check.js";
import { buildArgsFromEnv, generatorEnv } from "../../src/module/env.js";
import { scanModuleFile } from "../../src/module/file-scan.js";
import { listModuleFiles, resolveModuleFile } from "../../src/module/files.js";
import { verifyModuleFile } from "../../src/module/inspect.js";
import { writeModuleFile } from "../../src/module/write.js";
import { moduleTags } from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";

const dir = mkdtempSync(join(tmpdir(), "vmd-modfiles-"));
const good = () =>
  moduleTags({
    moduleFormat: "hymx.vmdocker.v0.0.1",
    tags: [
      { name: "Runtime-Backend", value: "sandbox" },
      { name: "Image-Name", value: "img:1" },
      { name: "Image-ID", value: "sha256:abc" },
      { name: "Image-Source", value: "module-data" },
      { name: "Image-Archive-Format", value: "docker-save+gzip" },
    ],
  });

test("checkModule accepts a good module (ignoring Runtime-Backend) and applies defaults", () => {
  assert.deepEqual(checkModule(good()), {
    imageName: "img:1",
    imageId: "sha256:abc",
    startCommand: "/usr/local/bin/start-vmdocker-agent.sh",
    sandboxAgent: "shell",
  });
});

test("checkModule rejects in upstream's order, one clear message per rule", () => {
  const without = (name: string) => good().filter((t) => t.name !== name);
  const set = (name: string, value: string) =>
    good().map((t) => (t.name === name ? { name, value } : t));
  const cases: [ReturnType<typeof good>, RegExp][] = [
    [
      set("Module-Format", "web.vmdocker-golua-ao.v0.0.1"),
      /Module-Format is "web.vmdocker-golua-ao.v0.0.1", not hymx.vmdocker.v0.0.1/,
    ],
    [[...good(), { name: "Build-Type", value: "x" }], /Build-Type modules are no longer supported/],
    [without("Image-Name"), /no Image-Name/],
    [without("Image-ID"), /no Image-ID/],
    [set("Image-Source", "registry"), /Image-Source must be module-data/],
    [set("Image-Archive-Format", "tar"), /Image-Archive-Format must be docker-save\+gzip/],
    // the first failing rule wins
    [without("Image-Name").filter((t) => t.name !== "Image-ID"), /no Image-Name/],
  ];
  for (const [tags, msg] of cases) assert.throws(() => checkModule(tags), msg);
});

test("the file scanner streams data (JSON escapes honoured) and parses everything else", async () => {
  const payload = Buffer.from(
    "any bytes \u0000\u00ff at all, long enough to span pieces".repeat(5000),
  );
  const b64 = payload.toString("base64url").replace(/_/g, "\\u005f");
  const file = join(dir, "escaped.json");
  writeFileSync(
    file,
    `{"signatureType":3,"tags":[{"name":"data","value":"\\"data\\":\\"x"}],"data":"${b64}","id":"abc"}`,
  );
  const chunks: Buffer[] = [];
  const scanned = await scanModuleFile(file, (b) => void chunks.push(Buffer.from(b)));
  assert.ok(Buffer.concat(chunks).equals(payload));
  assert.equal(scanned.dataBytes, payload.length);
  assert.deepEqual(scanned.header, {
    signatureType: 3,
    tags: [{ name: "data", value: '"data":"x' }],
    data: "",
    id: "abc",
  });
});

test("module files are written atomically, verify after streaming, and are found by id in mod/ then ./", async () => {
  const dataFile = join(dir, "payload.bin");
  const payload = Buffer.from("payload".repeat(100000));
  writeFileSync(dataFile, payload);
  const sha384 = createHash("sha384").update(payload).digest();
  const signer = new EthereumSigner(
    "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b",
  );
  const mod = await writeModuleFile(join(dir, "mod"), signer, good(), {
    file: dataFile,
    length: payload.length,
    sha384,
  });
  const v = await verifyModuleFile(mod.file);
  assert.deepEqual(v.verified, { signature: true, id: true });
  assert.equal(v.dataBytes, payload.length);
  assert.equal(resolveModuleFile(mod.id, dir), mod.file);
  assert.deepEqual(listModuleFiles(dir), [mod.file]);
  assert.throws(() => resolveModuleFile("y".repeat(43), dir), /has no file/);
  const legacyDir = mkdtempSync(join(tmpdir(), "vmd-legacy-"));
  mkdirSync(join(legacyDir, "mod"));
  writeFileSync(join(legacyDir, `mod-${mod.id}.json`), "{}");
  assert.equal(resolveModuleFile(mod.id, legacyDir), join(legacyDir, `mod-${mod.id}.json`));
});

test("the generator's .env files fill in what the environment does not set", () => {
  const cwd = mkdtempSync(join(tmpdir(), "vmd-env-"));
  mkdirSync(join(cwd, "cmd", "module"), { recursive: true });
  writeFileSync(
    join(cwd, ".env"),
    '# comment\nVMDOCKER_SANDBOX_IMAGE_NAME="img:2"\nVMDOCKER_PRIVATE_KEY=\nVMDOCKER_BUILD_ARG_A=1\n',
  );
  writeFileSync(
    join(cwd, "cmd", "module", ".env"),
    "VMDOCKER_SANDBOX_IMAGE_NAME=ignored\nVMDOCKER_BUILD_TAG='t:1'\n",
  );
  const env = generatorEnv(cwd, { VMDOCKER_BUILD_ARG_B: "2" });
  assert.equal(env.VMDOCKER_SANDBOX_IMAGE_NAME, "img:2");
  assert.equal(env.VMDOCKER_BUILD_TAG, "t:1");
  assert.equal(env.VMDOCKER_PRIVATE_KEY, undefined);
  assert.deepEqual(buildArgsFromEnv(env), { A: "1", B: "2" });
  assert.equal(
    generatorEnv(cwd, { VMDOCKER_SANDBOX_IMAGE_NAME: "mine" }).VMDOCKER_SANDBOX_IMAGE_NAME,
    "mine",
  );
});
