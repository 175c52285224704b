import { ProtocolError } from "./errors.js";

export interface Tag {
  name: string;
  value: string;
}

export const MAX_TAGS = 128;
export const MAX_TAG_NAME_BYTES = 1024;
export const MAX_TAG_VALUE_BYTES = 3072;

/** Whether a string survives UTF-8 encoding unchanged (no lone surrogates). */
const isWellFormed = (s: string) => Buffer.from(s, "utf8").toString("utf8") === s;

/**
 * ANS-104's tag rules: at most 128 tags, names up to 1024 bytes, values up to 3072 bytes, and
 * every name and value a well-formed Unicode string (so its UTF-8 bytes are what was signed).
 * Throws ProtocolError err_invalid_tags naming the first rule broken.
 */
export function checkTagLimits(tags: Tag[]): void {
  if (tags.length > MAX_TAGS)
    throw new ProtocolError("err_invalid_tags", `${tags.length} tags (at most ${MAX_TAGS})`);
  for (const t of tags) {
    if (typeof t.name !== "string" || typeof t.value !== "string") {
      throw new ProtocolError("err_invalid_tags", "tag names and values are strings");
    }
    if (!isWellFormed(t.name) || !isWellFormed(t.value))
      throw new ProtocolError("err_invalid_tags", "a tag name or value is not valid Unicode");
    if (Buffer.byteLength(t.name) > MAX_TAG_NAME_BYTES) {
      throw new ProtocolError(
        "err_invalid_tags",
        `tag name longer than ${MAX_TAG_NAME_BYTES} bytes`,
      );
    }
    if (Buffer.byteLength(t.value) > MAX_TAG_VALUE_BYTES) {
      throw new ProtocolError(
        "err_invalid_tags",
        `value of tag ${t.name} longer than ${MAX_TAG_VALUE_BYTES} bytes`,
      );
    }
  }
}

// Avro: `long` is zig-zag varint; `bytes` is a long length then the bytes; an array is blocks of
// (count, items) closed by a 0 count. ANS-104 tags = array<record{name: bytes, value: bytes}>.

function writeLong(out: number[], n: number): void {
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
}

/** Avro bytes of the tags; no tags encode as zero bytes (not an empty Avro array), as ANS-104 does. */
export function encodeTags(tags: Tag[]): Buffer {
  if (tags.length === 0) return Buffer.alloc(0);
  checkTagLimits(tags);
  const head: number[] = [];
  writeLong(head, tags.length);
  const parts: Buffer[] = [Buffer.from(head)];
  for (const t of tags) {
    for (const s of [t.name, t.value]) {
      const b = Buffer.from(s, "utf8");
      const len: number[] = [];
      writeLong(len, b.length);
      parts.push(Buffer.from(len), b);
    }
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

// Tag bytes must be valid UTF-8 as they stand: a lossy decode would store text that is not what was
// signed. ignoreBOM keeps a leading U+FEFF as part of the value.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Decodes ANS-104 tag bytes (Avro). Throws ProtocolError err_invalid_tags on malformed Avro, bytes
 * that are not valid UTF-8, trailing bytes, or a broken limit (checkTagLimits).
 */
export function decodeTags(buf: Uint8Array): Tag[] {
  if (buf.length === 0) return [];
  let pos = 0;
  const bad = (why: string) => new ProtocolError("err_invalid_tags", why);
  const readLong = (): number => {
    let result = 0;
    let mult = 1;
    for (;;) {
      if (pos >= buf.length) throw bad("truncated tag bytes");
      const b = buf[pos++]!;
      result += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) break;
      mult *= 0x80;
      if (mult > 2 ** 49) throw bad("tag length overflows");
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
  };
  const readBytes = (): string => {
    const len = readLong();
    if (len < 0 || pos + len > buf.length) throw bad("tag bytes out of range");
    let s: string;
    try {
      s = utf8.decode(buf.subarray(pos, pos + len));
    } catch {
      throw bad("a tag name or value is not valid UTF-8");
    }
    pos += len;
    return s;
  };
  const tags: Tag[] = [];
  for (;;) {
    let count = readLong();
    if (count === 0) break;
    if (count < 0) {
      count = -count;
      readLong(); // block size in bytes, not needed
    }
    for (let i = 0; i < count; i++) {
      const name = readBytes();
      const value = readBytes();
      tags.push({ name, value });
      if (tags.length > MAX_TAGS) throw bad(`more than ${MAX_TAGS} tags`);
    }
  }
  if (pos !== buf.length) throw bad("trailing bytes after tags");
  checkTagLimits(tags);
  return tags;
}
