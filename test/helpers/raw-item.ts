import { fromB64Url } from "../../src/protocol/base64url.js";
import { itemDeepHash } from "../../src/protocol/data-item.js";
import type { Signer } from "../../src/protocol/signers.js";

/** Avro `long` (zig-zag varint). */
function avroLong(n: number): Buffer {
  const out: number[] = [];
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
  return Buffer.from(out);
}

/** An ANS-104 tag section (Avro) from raw name/value bytes, whatever they hold. */
export function avroTags(pairs: [Buffer, Buffer][]): Buffer {
  return Buffer.concat([
    avroLong(pairs.length),
    ...pairs.flatMap(([n, v]) => [avroLong(n.length), n, avroLong(v.length), v]),
    Buffer.from([0]),
  ]);
}

const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

/**
 * A binary type-3 item to `pid` whose tag section is given as raw bytes (the tag count as
 * claimed), validly signed over exactly those bytes: what a hostile client can send.
 */
export function signedWithRawTags(
  signer: Signer,
  pid: string,
  tagsBytes: Buffer,
  numTags: number,
  data: Buffer,
): Buffer {
  const target = fromB64Url(pid, "pid");
  const hash = itemDeepHash({
    signatureType: 3,
    owner: signer.owner,
    target,
    anchor: Buffer.alloc(0),
    tagsBytes,
    data,
  });
  return Buffer.concat([
    Buffer.from([3, 0]),
    signer.sign(hash),
    signer.owner,
    Buffer.from([1]),
    target,
    Buffer.from([0]),
    u64(BigInt(numTags)),
    u64(BigInt(tagsBytes.length)),
    tagsBytes,
    data,
  ]);
}
