import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { ProtocolError } from "./errors.js";

// go-ethereum's crypto/ecies with its secp256k1 parameters (ECIES_AES128_SHA256), as hymx v0.5.0
// uses for `Encrypted-*` params: ciphertext = R (65-byte uncompressed ephemeral public key) ‖
// IV (16) ‖ AES-128-CTR(m) ‖ HMAC-SHA256(Km, IV ‖ c). Keys come from NIST SP 800-56 concatenation
// KDF over the ECDH x coordinate: Ke = K[0:16], Km = SHA-256(K[16:32]). s1 and s2 are empty.
const KEY_LEN = 16;
const PUB_LEN = 65;
const IV_LEN = 16;
const TAG_LEN = 32;

function concatKdf(z: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 1, have = 0; have < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash("sha256").update(c).update(z).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

function deriveKeys(shared: Buffer): { ke: Buffer; km: Buffer } {
  const k = concatKdf(shared, 2 * KEY_LEN);
  return {
    ke: k.subarray(0, KEY_LEN),
    km: createHash("sha256").update(k.subarray(KEY_LEN)).digest(),
  };
}

const hex = (s: string) => Buffer.from(s.replace(/^0x/i, ""), "hex");

/** The uncompressed public key (0x04…) of a secp256k1 private key, as `/info` publishes it. */
export function encryptionPublicKey(privateKeyHex: string): string {
  const ecdh = createECDH("secp256k1");
  ecdh.setPrivateKey(hex(privateKeyHex));
  return `0x${ecdh.getPublicKey("hex", "uncompressed")}`;
}

/** Encrypts for the holder of `publicKeyHex`; standard base64, as hymx expects. */
export function eciesEncrypt(publicKeyHex: string, plaintext: string | Buffer): string {
  const pub = hex(publicKeyHex);
  if (pub.length !== PUB_LEN || pub[0] !== 4)
    throw new ProtocolError("err_invalid_public_key", "not an uncompressed secp256k1 public key");
  const eph = createECDH("secp256k1");
  eph.generateKeys();
  const { ke, km } = deriveKeys(eph.computeSecret(pub));
  const iv = randomBytes(IV_LEN);
  const cipher = createCipheriv("aes-128-ctr", ke, iv);
  const em = Buffer.concat([iv, cipher.update(plaintext), cipher.final()]);
  const tag = createHmac("sha256", km).update(em).digest();
  return Buffer.concat([eph.getPublicKey(null, "uncompressed"), em, tag]).toString("base64");
}

/** Decrypts with the node's private key; throws on a wrong key, a bad tag or a malformed input. */
export function eciesDecrypt(privateKeyHex: string, ciphertextBase64: string): Buffer {
  const ct = Buffer.from(ciphertextBase64, "base64");
  if (ct.length < PUB_LEN + IV_LEN + TAG_LEN || ct[0] !== 4)
    throw new ProtocolError("err_decrypt_param_failed", "ciphertext too short");
  const ecdh = createECDH("secp256k1");
  ecdh.setPrivateKey(hex(privateKeyHex));
  let shared: Buffer;
  try {
    shared = ecdh.computeSecret(ct.subarray(0, PUB_LEN));
  } catch {
    throw new ProtocolError("err_decrypt_param_failed", "invalid ephemeral key");
  }
  const { ke, km } = deriveKeys(shared);
  const em = ct.subarray(PUB_LEN, ct.length - TAG_LEN);
  const tag = ct.subarray(ct.length - TAG_LEN);
  const expected = createHmac("sha256", km).update(em).digest();
  if (!timingSafeEqual(tag, expected))
    throw new ProtocolError("err_decrypt_param_failed", "the message tag does not match");
  const decipher = createDecipheriv("aes-128-ctr", ke, em.subarray(0, IV_LEN));
  return Buffer.concat([decipher.update(em.subarray(IV_LEN)), decipher.final()]);
}

export const ENCRYPTED_PREFIX = "Encrypted-";
export const DECRYPT_FAILED = "err_decrypt_param_failed";

/**
 * hymx v0.5.0's rule: for each `Encrypted-<K>` param, add `<K>` = its plaintext unless `<K>` is
 * already there; a value that does not decrypt becomes `err_decrypt_param_failed`.
 */
export function decryptParams(
  params: Record<string, string>,
  decrypt: (ciphertext: string) => string,
): Record<string, string> {
  const out = { ...params };
  for (const [name, value] of Object.entries(params)) {
    if (!name.startsWith(ENCRYPTED_PREFIX)) continue;
    const key = name.slice(ENCRYPTED_PREFIX.length);
    if (!key || Object.hasOwn(params, key)) continue;
    try {
      out[key] = decrypt(value);
    } catch {
      out[key] = DECRYPT_FAILED;
    }
  }
  return out;
}

/** The node's side: its public key for `/info`, and decryption of what clients encrypted to it. */
export class Cryptor {
  readonly publicKey: string;

  constructor(private readonly privateKeyHex: string) {
    this.publicKey = encryptionPublicKey(privateKeyHex);
  }

  /** Encrypts to this node's own key (what it keeps for itself, such as checkpoint state). */
  encrypt(plaintext: string): string {
    return eciesEncrypt(this.publicKey, plaintext);
  }

  decrypt(ciphertextBase64: string): string {
    return eciesDecrypt(this.privateKeyHex, ciphertextBase64).toString("utf8");
  }
}
