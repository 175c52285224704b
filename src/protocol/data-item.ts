import { createHash } from "node:crypto";
import { z } from "zod";
import { fromB64Url, toB64Url } from "./base64url.js";
import { deepHash, deepHashBlobFromDigest, deepHashList } from "./deep-hash.js";
import { ProtocolError } from "./errors.js";
import {
  ownerAddress,
  SIGNATURE_LAYOUT,
  verifySignature,
  type SignatureType,
  type Signer,
} from "./signers.js";
import { decodeTags, encodeTags, type Tag } from "./tags.js";

/** The JSON form of an item, as hymx/goar serialise it: binary fields in base64url without padding. */
export const BundleItemJsonSchema = z.object({
  signatureType: z.number().int(),
  signature: z.string(),
  owner: z.string(),
  target: z.string().default(""),
  anchor: z.string().default(""),
  tags: z
    .array(z.object({ name: z.string(), value: z.string() }))
    .nullable()
    .default([]),
  data: z.string().default(""),
  id: z.string().optional(),
  tagsBy: z.string().optional(),
});
export type BundleItemJson = z.input<typeof BundleItemJsonSchema>;

export interface UnsignedItem {
  data?: Uint8Array | string;
  target?: string;
  anchor?: string;
  tags?: Tag[];
}

const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};

function optional32(value: string | undefined, field: string): Buffer {
  if (!value) return Buffer.alloc(0);
  const bytes = fromB64Url(value, field);
  if (bytes.length !== 32) throw new ProtocolError("err_invalid_item", `${field} must be 32 bytes`);
  return bytes;
}

/** The deep hash an item's signature covers; `data` may be given as (length, sha384) when streamed. */
export function itemDeepHash(parts: {
  signatureType: number;
  owner: Uint8Array;
  target: Uint8Array;
  anchor: Uint8Array;
  tagsBytes: Uint8Array;
  data: Uint8Array | { length: number; sha384: Uint8Array };
}): Buffer {
  const d = parts.data;
  return deepHashList([
    () => deepHash(Buffer.from("dataitem")),
    () => deepHash(Buffer.from("1")),
    () => deepHash(Buffer.from(String(parts.signatureType))),
    () => deepHash(parts.owner),
    () => deepHash(parts.target),
    () => deepHash(parts.anchor),
    () => deepHash(parts.tagsBytes),
    () => (d instanceof Uint8Array ? deepHash(d) : deepHashBlobFromDigest(d.length, d.sha384)),
  ]);
}

export function idFromSignature(signature: Uint8Array): string {
  return toB64Url(createHash("sha256").update(signature).digest());
}

/** An ANS-104 data item. Immutable once built; `verify()` checks its signature. */
export class DataItem {
  private signedHash?: Buffer;

  private constructor(
    readonly signatureType: number,
    readonly signature: Buffer,
    readonly owner: Buffer,
    readonly target: Buffer,
    readonly anchor: Buffer,
    readonly tags: Tag[],
    readonly tagsBytes: Buffer,
    readonly data: Buffer,
  ) {}

  static sign(item: UnsignedItem, signer: Signer): DataItem {
    const target = optional32(item.target, "target");
    const anchor = optional32(item.anchor, "anchor");
    const tags = item.tags ?? [];
    const tagsBytes = encodeTags(tags);
    const data =
      typeof item.data === "string" ? Buffer.from(item.data, "utf8") : Buffer.from(item.data ?? []);
    const hash = itemDeepHash({
      signatureType: signer.signatureType,
      owner: signer.owner,
      target,
      anchor,
      tagsBytes,
      data,
    });
    return new DataItem(
      signer.signatureType,
      signer.sign(hash),
      signer.owner,
      target,
      anchor,
      tags,
      tagsBytes,
      data,
    );
  }

  /** Parses the ANS-104 binary form. Throws ProtocolError on any malformed field. */
  static decode(bytes: Uint8Array): DataItem {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const bad = (why: string) => new ProtocolError("err_invalid_item", why);
    if (buf.length < 2) throw bad("too short");
    const type = buf.readUInt16LE(0);
    const layout = SIGNATURE_LAYOUT[type as SignatureType];
    if (!layout)
      throw new ProtocolError("err_unrecognized_signature_type", `signature type ${type}`);
    let pos = 2;
    const take = (n: number, what: string) => {
      if (pos + n > buf.length) throw bad(`truncated ${what}`);
      const out = buf.subarray(pos, pos + n);
      pos += n;
      return out;
    };
    const signature = take(layout.signature, "signature");
    const owner = take(layout.owner, "owner");
    const optional = (what: string) => {
      const flag = take(1, what)[0];
      if (flag === 0) return Buffer.alloc(0);
      if (flag !== 1) throw bad(`${what} presence byte is ${flag}`);
      return take(32, what);
    };
    const target = optional("target");
    const anchor = optional("anchor");
    const numTags = Number(take(8, "tag count").readBigUInt64LE());
    const tagsLen = Number(take(8, "tag length").readBigUInt64LE());
    // Readers disagree on such an item (goar skips the tag bytes, arbundles reads them): refuse it.
    if (numTags === 0 && tagsLen !== 0) throw bad(`tag length ${tagsLen} for zero tags`);
    const tagsBytes = take(tagsLen, "tags");
    const tags = decodeTags(tagsBytes);
    if (tags.length !== numTags) throw bad(`tag count says ${numTags}, tags hold ${tags.length}`);
    const data = buf.subarray(pos);
    return new DataItem(type, signature, owner, target, anchor, tags, tagsBytes, data);
  }

  static fromJSON(input: unknown): DataItem {
    const parsed = BundleItemJsonSchema.safeParse(input);
    if (!parsed.success)
      throw new ProtocolError("err_invalid_item", parsed.error.issues[0]?.message);
    const j = parsed.data;
    const layout = SIGNATURE_LAYOUT[j.signatureType as SignatureType];
    if (!layout)
      throw new ProtocolError(
        "err_unrecognized_signature_type",
        `signature type ${j.signatureType}`,
      );
    const signature = fromB64Url(j.signature, "signature");
    const owner = fromB64Url(j.owner, "owner");
    if (signature.length !== layout.signature || owner.length !== layout.owner) {
      throw new ProtocolError(
        "err_invalid_item",
        "signature or owner has the wrong length for its type",
      );
    }
    const tags = j.tags ?? [];
    const tagsBytes = j.tagsBy ? fromB64Url(j.tagsBy, "tagsBy") : encodeTags(tags);
    if (j.tagsBy) {
      const fromBytes = decodeTags(tagsBytes);
      if (
        JSON.stringify(fromBytes) !==
        JSON.stringify(tags.map((t) => ({ name: t.name, value: t.value })))
      ) {
        throw new ProtocolError("err_invalid_item", "tags and tagsBy disagree");
      }
    }
    const item = new DataItem(
      j.signatureType,
      signature,
      owner,
      optional32(j.target, "target"),
      optional32(j.anchor, "anchor"),
      decodeTags(tagsBytes),
      tagsBytes,
      fromB64Url(j.data, "data"),
    );
    if (j.id && j.id !== item.id)
      throw new ProtocolError("err_invalid_item", "id does not match the signature");
    return item;
  }

  // Computed on first use (a hash each); the item never changes.
  private idText?: string;
  private addressText?: string;

  get id(): string {
    return (this.idText ??= idFromSignature(this.signature));
  }

  /** The signer's address: EIP-55 `0x…` (Ethereum) or base64url(sha256(owner)) (Arweave). */
  get address(): string {
    return (this.addressText ??= ownerAddress(this.signatureType as SignatureType, this.owner));
  }

  get targetId(): string {
    return toB64Url(this.target);
  }

  get anchorText(): string {
    return toB64Url(this.anchor);
  }

  /** The 48-byte deep hash the signature covers: the item's signed content (computed once). */
  deepHash(): Buffer {
    this.signedHash ??= itemDeepHash(this);
    return this.signedHash;
  }

  /** True when the signature is valid. Types 2 and 4 throw err_unrecognized_signature_type. */
  verify(): boolean {
    return verifySignature(this.signatureType, this.owner, this.deepHash(), this.signature);
  }

  encode(): Buffer {
    const flag = (b: Buffer) =>
      b.length ? Buffer.concat([Buffer.from([1]), b]) : Buffer.from([0]);
    const type = Buffer.alloc(2);
    type.writeUInt16LE(this.signatureType);
    return Buffer.concat([
      type,
      this.signature,
      this.owner,
      flag(this.target),
      flag(this.anchor),
      u64(this.tags.length),
      u64(this.tagsBytes.length),
      this.tagsBytes,
      this.data,
    ]);
  }

  toJSON(): Required<Omit<BundleItemJson, "tags">> & { tags: Tag[] } {
    return {
      signatureType: this.signatureType,
      signature: toB64Url(this.signature),
      owner: toB64Url(this.owner),
      target: toB64Url(this.target),
      anchor: toB64Url(this.anchor),
      tags: this.tags,
      data: toB64Url(this.data),
      id: this.id,
      tagsBy: toB64Url(this.tagsBytes),
    };
  }

  tag(name: string): string | undefined {
    return this.tags.find((t) => t.name === name)?.value;
  }
}
