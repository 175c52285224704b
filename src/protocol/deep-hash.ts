import { createHash } from "node:crypto";

export type DeepHashChunk = Uint8Array | DeepHashChunk[];

const sha384 = (...parts: Uint8Array[]) => {
  const h = createHash("sha384");
  for (const p of parts) h.update(p);
  return h.digest();
};

/**
 * The hash of a blob whose SHA-384 was computed elsewhere (a streamed module payload):
 * deepHash(blob) = sha384(sha384("blob" + length) ‖ sha384(blob)).
 */
export function deepHashBlobFromDigest(length: number, digest: Uint8Array): Buffer {
  return sha384(sha384(Buffer.from(`blob${length}`)), digest);
}

/** ANS-104 / Arweave deep hash (SHA-384). */
export function deepHash(chunk: DeepHashChunk): Buffer {
  if (!Array.isArray(chunk)) return deepHashBlobFromDigest(chunk.byteLength, sha384(chunk));
  return deepHashList(chunk.map((c) => () => deepHash(c)));
}

/** A list whose elements' deep hashes are produced lazily (some may come from precomputed digests). */
export function deepHashList(elements: (() => Uint8Array)[]): Buffer {
  let acc = sha384(Buffer.from(`list${elements.length}`));
  for (const el of elements) acc = sha384(acc, el());
  return acc;
}
