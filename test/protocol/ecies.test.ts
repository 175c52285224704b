import assert from "node:assert/strict";
import { test } from "node:test";
import ecies from "ecies-geth";
import {
  Cryptor,
  decryptParams,
  eciesDecrypt,
  eciesEncrypt,
  encryptionPublicKey,
} from "../../src/protocol/ecies.js";

// go-ethereum's ECIES as hymx v0.5.0 uses it, checked against ecies-geth (an independent port of geth's).
const KEY = "64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";
const PUB = encryptionPublicKey(KEY);

test("the public key is the uncompressed 0x04… key, as /info publishes it", () => {
  assert.match(PUB, /^0x04[0-9a-f]{128}$/);
});

test("interoperates with geth's ECIES both ways; ciphertext is standard base64", async () => {
  const theirs = await ecies.encrypt(Buffer.from(PUB.slice(2), "hex"), Buffer.from("sk-live-123"));
  assert.equal(eciesDecrypt(KEY, theirs.toString("base64")).toString(), "sk-live-123");
  const ours = eciesEncrypt(PUB, "bot:token/with+chars=");
  assert.match(ours, /^[A-Za-z0-9+/]+=*$/);
  const back = await ecies.decrypt(Buffer.from(KEY, "hex"), Buffer.from(ours, "base64"));
  assert.equal(back.toString(), "bot:token/with+chars=");
  assert.notEqual(
    eciesEncrypt(PUB, "same"),
    eciesEncrypt(PUB, "same"),
    "fresh randomness each time",
  );
});

test("a tampered ciphertext, another node's key or garbage do not decrypt", () => {
  const ct = Buffer.from(eciesEncrypt(PUB, "secret"), "base64");
  ct[ct.length - 40]! ^= 1;
  assert.throws(() => eciesDecrypt(KEY, ct.toString("base64")), /tag does not match/);
  const other = "11".repeat(32);
  assert.throws(
    () => eciesDecrypt(other, eciesEncrypt(PUB, "secret")),
    /err_decrypt_param_failed|tag/,
  );
  assert.throws(() => eciesDecrypt(KEY, "bm90IGEgY2lwaGVydGV4dA=="), /too short/);
  assert.throws(() => eciesEncrypt("0x1234", "x"), /uncompressed secp256k1/);
});

test("Encrypted-<K> params: <K> added decrypted, a plaintext <K> wins, a bad one is marked", () => {
  const c = new Cryptor(KEY);
  assert.equal(c.publicKey, PUB);
  const out = decryptParams(
    {
      "Encrypted-Api-Key": eciesEncrypt(PUB, "sk-1"),
      "Encrypted-Given": eciesEncrypt(PUB, "ignored"),
      Given: "plain",
      "Encrypted-Broken": "AAAA",
      Other: "x",
    },
    (v) => c.decrypt(v),
  );
  assert.equal(out["Api-Key"], "sk-1");
  assert.equal(out.Given, "plain");
  assert.equal(out.Broken, "err_decrypt_param_failed");
  assert.equal(out.Other, "x");
  assert.ok(out["Encrypted-Api-Key"], "the ciphertext stays");
});
