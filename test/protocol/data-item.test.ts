import assert from "node:assert/strict";
import { generateKeyPairSync, type JsonWebKey } from "node:crypto";
import { test } from "node:test";
import * as arbundles from "@dha-team/arbundles";
import { DataItem } from "../../src/protocol/data-item.js";
import { ProtocolError } from "../../src/protocol/errors.js";
import { ArweaveSigner, EthereumSigner } from "../../src/protocol/signers.js";
import { decodeTags, encodeTags } from "../../src/protocol/tags.js";
import { redressings } from "../helpers/redress.js";

// An independent ANS-104 implementation (the AO ecosystem's arbundles) checks ours both ways.
const { createData, DataItem: TheirItem } = arbundles;
const TheirEth = arbundles.EthereumSigner;
const TheirArweave = arbundles.ArweaveSigner;

const ETH_KEY = "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";
const rsa = generateKeyPairSync("rsa", { modulusLength: 4096, publicExponent: 65537 });
const jwk = rsa.privateKey.export({ format: "jwk" }) as JsonWebKey;
const tags = [
  { name: "Data-Protocol", value: "hymx" },
  { name: "Action", value: "Ping" },
  { name: "Empty", value: "" },
  { name: "Unicode", value: "héllo ✓" },
];
const target = Buffer.alloc(32, 7);
const anchor = Buffer.from("anchor-anchor-anchor-anchor-0001");

test("the known Ethereum test key has the known address", () => {
  assert.equal(new EthereumSigner(ETH_KEY).address, "0x972AeD684D6f817e1b58AF70933dF1b4a75bfA51");
  assert.equal(
    new EthereumSigner(ETH_KEY.slice(2)).address,
    "0x972AeD684D6f817e1b58AF70933dF1b4a75bfA51",
  );
});

for (const kind of ["ethereum", "arweave"] as const) {
  const ours = kind === "ethereum" ? new EthereumSigner(ETH_KEY) : new ArweaveSigner(jwk);
  const theirs =
    kind === "ethereum" ? new TheirEth(ETH_KEY.slice(2)) : new TheirArweave(jwk as never);

  test(`${kind}: items signed by arbundles verify here, with the same id, address and fields`, async () => {
    const item = createData("payload ✓", theirs, {
      tags,
      target: target.toString("base64url"),
      anchor: anchor.toString(),
    });
    await item.sign(theirs);
    const decoded = DataItem.decode(item.getRaw());
    assert.equal(decoded.verify(), true);
    assert.equal(decoded.id, item.id);
    assert.equal(decoded.address, ours.address);
    assert.deepEqual(decoded.tags, tags);
    assert.equal(decoded.data.toString(), "payload ✓");
    assert.equal(decoded.targetId, target.toString("base64url"));
    assert.ok(decoded.encode().equals(item.getRaw()), "re-encoding gives the same bytes");
  });

  test(`${kind}: items signed here verify in arbundles, with the same id`, async () => {
    const mine = DataItem.sign(
      {
        data: "payload",
        tags,
        target: target.toString("base64url"),
        anchor: anchor.toString("base64url"),
      },
      ours,
    );
    assert.equal(await TheirItem.verify(mine.encode()), true);
    assert.equal(new TheirItem(mine.encode()).id, mine.id);
    const empty = DataItem.sign({}, ours);
    assert.equal(await TheirItem.verify(empty.encode()), true);
    assert.equal(DataItem.decode(empty.encode()).verify(), true);
  });

  test(`${kind}: tampering with any byte of signature, owner, tags or data fails verification`, () => {
    const item = DataItem.sign({ data: "payload", tags }, ours);
    const raw = item.encode();
    const sigLen = item.signature.length;
    const ownerLen = item.owner.length;
    const tagsStart = 2 + sigLen + ownerLen + 1 + 1 + 16;
    const spots = {
      signature: 2 + 10,
      owner: 2 + sigLen + 20,
      // change a character inside a tag value so the tags still parse
      tags: tagsStart + item.tagsBytes.indexOf(Buffer.from("Ping")),
      data: raw.length - 1,
    };
    for (const [field, at] of Object.entries(spots)) {
      const bad = Buffer.from(raw);
      bad[at] = bad[at]! ^ 0x01;
      let ok: boolean;
      try {
        ok = DataItem.decode(bad).verify();
      } catch {
        ok = false;
      }
      assert.equal(ok, false, `a flipped ${field} byte is detected`);
    }
  });
}

test("JSON form round-trips: base64url fields, plaintext tags, tagsBy, id", () => {
  const item = DataItem.sign(
    { data: "x", tags, target: target.toString("base64url") },
    new EthereumSigner(ETH_KEY),
  );
  const json = item.toJSON();
  assert.equal(json.signatureType, 3);
  assert.equal(json.id, item.id);
  assert.equal(json.anchor, "");
  assert.match(json.signature, /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(json.tags, tags);
  const back = DataItem.fromJSON(JSON.parse(JSON.stringify(json)));
  assert.equal(back.verify(), true);
  assert.equal(back.id, item.id);
  assert.throws(() => DataItem.fromJSON({ ...json, id: "x".repeat(43) }), /id does not match/);
  assert.throws(
    () => DataItem.fromJSON({ ...json, tags: [{ name: "Action", value: "Other" }] }),
    /tags and tagsBy disagree/,
  );
  assert.throws(() => DataItem.fromJSON({ ...json, data: "not base64!" }), /data is not base64url/);
});

test("signature types 2 and 4 are recognised and refused; unknown types are refused", () => {
  const item = DataItem.sign({ data: "x" }, new EthereumSigner(ETH_KEY));
  for (const type of [2, 4]) {
    const raw = Buffer.concat([
      Buffer.from([type, 0]),
      Buffer.alloc(64 + 32),
      Buffer.from([0, 0]),
      Buffer.alloc(16),
    ]);
    const decoded = DataItem.decode(raw);
    assert.throws(
      () => decoded.verify(),
      (e: unknown) => e instanceof ProtocolError && e.code === "err_unrecognized_signature_type",
    );
  }
  const unknown = Buffer.from(item.encode());
  unknown.writeUInt16LE(9, 0);
  assert.throws(() => DataItem.decode(unknown), /err_unrecognized_signature_type/);
});

test("malformed binary items are refused with err_invalid_item, not a crash", () => {
  const raw = DataItem.sign({ data: "x", tags }, new EthereumSigner(ETH_KEY)).encode();
  for (const cut of [1, 10, 70, 140, 150]) {
    assert.throws(
      () => DataItem.decode(raw.subarray(0, cut)),
      (e: unknown) => e instanceof ProtocolError,
      `cut at ${cut}`,
    );
  }
  const badFlag = Buffer.from(raw);
  badFlag[2 + 65 + 65] = 5;
  assert.throws(() => DataItem.decode(badFlag), /presence byte/);
  assert.throws(
    () => DataItem.sign({ target: "c2hvcnQ" }, new EthereumSigner(ETH_KEY)),
    /target must be 32 bytes/,
  );
});

test("tag limits: 128 tags, 1024-byte names, 3072-byte values", () => {
  const many = Array.from({ length: 129 }, (_, i) => ({ name: `T${i}`, value: "v" }));
  assert.throws(() => encodeTags(many), /129 tags/);
  assert.equal(decodeTags(encodeTags(many.slice(0, 128))).length, 128);
  assert.throws(() => encodeTags([{ name: "n".repeat(1025), value: "" }]), /name longer than 1024/);
  assert.throws(() => encodeTags([{ name: "n", value: "v".repeat(3073) }]), /longer than 3072/);
  assert.equal(
    decodeTags(encodeTags([{ name: "n".repeat(1024), value: "v".repeat(3072) }]))[0]!.value.length,
    3072,
  );
  assert.deepEqual(encodeTags([]), Buffer.alloc(0));
});

test("canonical Ethereum signatures: arbundles' and ours (goar's algorithm: libsecp256k1, RFC 6979, v = 27 + recid) are low-s with v 27/28 and verify; every re-dressing of them does not", async () => {
  const HALF_N = BigInt("0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0");
  const theirs = new TheirEth(ETH_KEY.slice(2));
  const ours = new EthereumSigner(ETH_KEY);
  for (let i = 0; i < 12; i++) {
    const made = createData(`payload ${i}`, theirs, { tags });
    await made.sign(theirs);
    for (const item of [
      DataItem.decode(made.getRaw()),
      DataItem.sign({ data: `payload ${i}`, tags }, ours),
    ]) {
      const sig = item.signature;
      assert.ok([27, 28].includes(sig[64]!), `v is ${sig[64]}`);
      assert.ok(BigInt(`0x${sig.subarray(32, 64).toString("hex")}`) <= HALF_N, "low s");
      assert.equal(item.verify(), true);
      for (const { how, bytes } of redressings(item))
        assert.equal(DataItem.decode(bytes).verify(), false, how);
    }
  }
});

test("tags: bytes that are not UTF-8 and strings that are not valid Unicode are refused; zero tags with tag bytes are refused", () => {
  const one = (value: Buffer) =>
    Buffer.concat([
      Buffer.from([2, 2]),
      Buffer.from("a"),
      Buffer.from([value.length * 2]),
      value,
      Buffer.from([0]),
    ]);
  assert.deepEqual(decodeTags(one(Buffer.from("ok ✓"))), [{ name: "a", value: "ok ✓" }]);
  assert.deepEqual(decodeTags(one(Buffer.from("\ufeffbom"))), [{ name: "a", value: "\ufeffbom" }]);
  for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x9c]])
    assert.throws(() => decodeTags(one(Buffer.from(bad))), /err_invalid_tags: .*not valid UTF-8/);
  assert.throws(() => encodeTags([{ name: "a", value: "lone \ud800" }]), /err_invalid_tags/);
  const item = DataItem.sign({ data: "x" }, new EthereumSigner(ETH_KEY));
  const raw = Buffer.from(item.encode());
  const at = 2 + 65 + 65 + 2 + 8; // the tag-length field of an item without tags
  raw.writeBigUInt64LE(1n, at);
  const withByte = Buffer.concat([raw.subarray(0, at + 8), Buffer.from([0]), raw.subarray(at + 8)]);
  assert.throws(() => DataItem.decode(withByte), /err_invalid_item: tag length 1 for zero tags/);
});
