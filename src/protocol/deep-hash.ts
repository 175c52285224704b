import { createHash } from "node:crypto";

export type DeepHashChunk = Uint8Array | DeepHashChunk[];

const sha384 = (...parts: Uint8Array[]) => {
  const h = createHash("sha384");
  for (const p of parts) h.update(p);
  return h.digest();
};

/** sha384("blob" + length) of the lengths items use most (fields, tags, small data), computed once. */
const blobHeads = new Map<number, Buffer>();
const MEMO_LENGTH = 4096;

function blobHead(length: number): Buffer {
  let head = blobHeads.get(length);
  if (!head) {
    head = sha384(Buffer.from(`blob${length}`));
    if (length <= MEMO_LENGTH) blobHeads.set(length, head);
  }
  return head;
}

/**
 * The hash of a blob whose SHA-384 was computed elsewhere (a streamed module payload):
 * deepHash(blob) = sha384(sha384("blob" + length) ‖ sha384(blob)).
 */
export function deepHashBlobFromDigest(length: number, digest: Uint8Array): Buffer {
  return sha384(blobHead(length), digest);
}

/** deepHash of the empty blob (an item without target or anchor). */
let emptyBlob: Buffer | undefined;

/** ANS-104 / Arweave deep hash (SHA-384). */
export function deepHash(chunk: DeepHashChunk): Buffer {
  if (!Array.isArray(chunk)) {
    if (chunk.byteLength === 0) return (emptyBlob ??= deepHashBlobFromDigest(0, sha384(chunk)));
    return deepHashBlobFromDigest(chunk.byteLength, sha384(chunk));
  }
  return deepHashList(chunk.map((c) => () => deepHash(c)));
}

/** sha384("list" + length) of short lists (an item's deep hash is a list of 8), computed once. */
const listHeads: Buffer[] = [];

/** A list whose elements' deep hashes are produced lazily (some may come from precomputed digests). */
export function deepHashList(elements: (() => Uint8Array)[]): Buffer {
  let acc = listHeads[elements.length] ?? sha384(Buffer.from(`list${elements.length}`));
  if (elements.length < 16) listHeads[elements.length] = acc;
  for (const el of elements) acc = sha384(acc, el());
  return acc;
}
