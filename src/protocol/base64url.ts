import { ProtocolError } from "./errors.js";

const ALPHABET = /^[A-Za-z0-9_-]*$/;

export function toB64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

/** Strict base64url (no padding, no other alphabet) → bytes. */
export function fromB64Url(text: string, field = "value"): Buffer {
  if (!ALPHABET.test(text) || text.length % 4 === 1) {
    throw new ProtocolError("err_invalid_item", `${field} is not base64url`);
  }
  return Buffer.from(text, "base64url");
}
