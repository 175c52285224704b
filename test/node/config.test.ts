import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { listenAddress, loadConfig } from "../../src/node/config.js";
import { loadNodeSigner } from "../../src/node/identity.js";

const dir = mkdtempSync(join(tmpdir(), "vmd-cfg-"));

test("config.yaml with upstream keys: an unquoted hex prvKey stays text; env overrides win", () => {
  const file = join(dir, "config.yaml");
  writeFileSync(
    file,
    "port: :8080\nginMode: release\nprvKey: 0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b\njoinNetwork: false\nnodeName: test1\n",
  );
  const cfg = loadConfig(file, {
    VMDOCKER_NODE_NAME: "fromenv",
    VMDOCKER_CHECKPOINT_INTERVAL: "0",
  });
  assert.equal(cfg.prvKey, "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b");
  assert.equal(cfg.nodeName, "fromenv");
  assert.equal(cfg.joinNetwork, false);
  assert.equal(cfg.checkpointInterval, 0);
  assert.equal(
    loadNodeSigner(cfg, dir).signer.address,
    "0x972AeD684D6f817e1b58AF70933dF1b4a75bfA51",
  );
});

test("bad config is one line naming the key", () => {
  const cases: [string, RegExp][] = [
    ["port: 8080\n", /port: a listen address/],
    ["ginMode: fast\n", /ginMode/],
    ["joinNetwork: maybe\n", /joinNetwork/],
    ["portt: :8080\n", /portt/],
    ["- a\n- b\n", /not a YAML mapping/],
    ["port: [unclosed\n", /not valid YAML/],
    ["adminPort: 8081\n", /adminPort: a listen address/],
    ['port: ":18590"\nadminPort: ":18590"\n', /adminPort :18590 is the same port as port :18590/],
    ['port: "0.0.0.0:18590"\nadminPort: ":18590"\n', /adminPort :18590 is the same port/],
  ];
  for (const [text, re] of cases) {
    const f = join(dir, `bad-${Math.random()}.yaml`);
    writeFileSync(f, text);
    assert.throws(
      () => loadConfig(f, {}),
      (e: Error) => re.test(e.message) && !e.message.includes("\n"),
      text,
    );
  }
  assert.throws(() => loadConfig(join(dir, "missing.yaml"), {}), /does not exist/);
  // Different ports, or the same port on two distinct hosts, are fine.
  for (const text of [
    'port: ":18590"\nadminPort: ":18591"\n',
    'port: "127.0.0.1:18590"\nadminPort: "127.0.0.2:18590"\n',
  ]) {
    const f = join(dir, `ok-${Math.random()}.yaml`);
    writeFileSync(f, text);
    assert.doesNotThrow(() => loadConfig(f, {}), text);
  }
});

test("the node wallet: prvKey, else an Arweave keyfile, else a key generated once (0600)", () => {
  const jwk = generateKeyPairSync("rsa", {
    modulusLength: 4096,
    publicExponent: 65537,
  }).privateKey.export({ format: "jwk" });
  const keyfile = join(dir, "wallet.json");
  writeFileSync(keyfile, JSON.stringify(jwk));
  const ar = loadNodeSigner({ prvKey: "", keyfilePath: keyfile }, dir).signer;
  assert.equal(ar.signatureType, 1);
  assert.match(ar.address, /^[A-Za-z0-9_-]{43}$/);
  const data = mkdtempSync(join(tmpdir(), "vmd-wallet-"));
  const first = loadNodeSigner({ prvKey: "", keyfilePath: "" }, data);
  assert.equal(first.generated, true);
  assert.equal(statSync(join(data, "node-key.hex")).mode & 0o777, 0o600);
  const again = loadNodeSigner({ prvKey: "", keyfilePath: "" }, data);
  assert.equal(again.generated, false);
  assert.equal(again.signer.address, first.signer.address);
  assert.throws(
    () => loadNodeSigner({ prvKey: "", keyfilePath: join(dir, "nope.json") }, dir),
    /does not exist/,
  );
});

test("listen addresses: a bare port binds loopback only", () => {
  assert.deepEqual(listenAddress(":8080"), { host: "127.0.0.1", port: 8080 });
  assert.deepEqual(listenAddress("0.0.0.0:9"), { host: "0.0.0.0", port: 9 });
  assert.deepEqual(listenAddress("[::1]:7"), { host: "::1", port: 7 });
});
