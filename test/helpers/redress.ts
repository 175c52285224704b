import { randomBytes } from "node:crypto";
import { keccak_256 } from "@noble/hashes/sha3.js";
import secp256k1 from "secp256k1";
import type { DataItem } from "../../src/protocol/data-item.js";

/** The order of secp256k1. */
const N = BigInt("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");

/** The item's binary form with other signature bytes (same owner, tags, data: same signed content). */
export function withSignature(item: DataItem, signature: Uint8Array): Buffer {
  const bytes = item.encode();
  Buffer.from(signature).copy(bytes, 2);
  return bytes;
}

/**
 * Every way a third party can re-dress an Ethereum (type 3) signature without the key, as the issue
 * lists them: another recovery byte (the flipped one, 0, 1, 255), and s replaced by n − s with the
 * recovery byte flipped (and kept). Each still passes a verifier that ignores v and normalises s.
 */
export function redressings(item: DataItem): { how: string; bytes: Buffer }[] {
  const sig = Buffer.from(item.signature);
  const v = sig[64]!;
  const withV = (nv: number) => Buffer.concat([sig.subarray(0, 64), Buffer.from([nv])]);
  const s = BigInt(`0x${sig.subarray(32, 64).toString("hex")}`);
  const highS = Buffer.from((N - s).toString(16).padStart(64, "0"), "hex");
  const flipped = v === 27 ? 28 : 27;
  const withHighS = (nv: number) => Buffer.concat([sig.subarray(0, 32), highS, Buffer.from([nv])]);
  return [
    { how: `recovery byte ${flipped}`, bytes: withSignature(item, withV(flipped)) },
    { how: "recovery byte 0", bytes: withSignature(item, withV(0)) },
    { how: "recovery byte 1", bytes: withSignature(item, withV(1)) },
    { how: "recovery byte 255", bytes: withSignature(item, withV(255)) },
    { how: "s → n − s, recovery byte flipped", bytes: withSignature(item, withHighS(flipped)) },
    { how: "s → n − s, recovery byte kept", bytes: withSignature(item, withHighS(v)) },
  ];
}

/**
 * A second valid, canonical Ethereum signature of the same content by the same key (another ECDSA
 * nonce, as a different wallet library could produce): only the key's holder can make one.
 */
export function resignedWithOtherNonce(item: DataItem, privateKeyHex: string): Buffer {
  const hash = keccak_256(
    Buffer.concat([Buffer.from("\x19Ethereum Signed Message:\n48"), item.deepHash()]),
  );
  const key = Buffer.from(privateKeyHex.replace(/^0x/, ""), "hex");
  const { signature, recid } = secp256k1.ecdsaSign(hash, key, { data: randomBytes(32) });
  return withSignature(item, Buffer.concat([signature, Buffer.from([27 + recid])]));
}
