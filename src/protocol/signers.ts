import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  sign,
  verify,
  type JsonWebKey,
} from "node:crypto";
import secp256k1 from "secp256k1";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { toB64Url } from "./base64url.js";
import { ProtocolError } from "./errors.js";

export type SignatureType = 1 | 2 | 3 | 4;

/** Byte lengths of signature and owner per ANS-104 signature type. Types 2 and 4 are parsed, then refused. */
export const SIGNATURE_LAYOUT: Record<
  SignatureType,
  { signature: number; owner: number; name: string }
> = {
  1: { signature: 512, owner: 512, name: "arweave" },
  2: { signature: 64, owner: 32, name: "ed25519" },
  3: { signature: 65, owner: 65, name: "ethereum" },
  4: { signature: 64, owner: 32, name: "solana" },
};

export const SUPPORTED_SIGNATURE_TYPES: readonly SignatureType[] = [1, 3];

export interface Signer {
  readonly signatureType: SignatureType;
  readonly owner: Buffer;
  readonly address: string;
  /** Signs an item's 48-byte deep hash. */
  sign(deepHash: Uint8Array): Buffer;
}

const ETH_PREFIX = Buffer.from("\x19Ethereum Signed Message:\n48");

function ethMessageHash(deepHash: Uint8Array): Uint8Array {
  return keccak_256(Buffer.concat([ETH_PREFIX, deepHash]));
}

/** EIP-55 checksummed address of a 65-byte uncompressed secp256k1 public key. */
export function ethereumAddress(owner: Uint8Array): string {
  const hex = Buffer.from(keccak_256(owner.subarray(1)))
    .subarray(12)
    .toString("hex");
  const check = Buffer.from(keccak_256(Buffer.from(hex, "ascii"))).toString("hex");
  let out = "0x";
  for (let i = 0; i < hex.length; i++)
    out += parseInt(check[i]!, 16) >= 8 ? hex[i]!.toUpperCase() : hex[i];
  return out;
}

export function arweaveAddress(owner: Uint8Array): string {
  return toB64Url(createHash("sha256").update(owner).digest());
}

export function ownerAddress(type: SignatureType, owner: Uint8Array): string {
  if (type === 3) return ethereumAddress(owner);
  if (type === 1) return arweaveAddress(owner);
  throw new ProtocolError("err_unrecognized_signature_type", `signature type ${type}`);
}

/** Ethereum (ANS-104 type 3): EIP-191 personal_sign of the deep hash, 65 bytes r‖s‖v (v = 27|28). */
export class EthereumSigner implements Signer {
  readonly signatureType = 3 as const;
  readonly owner: Buffer;
  readonly address: string;
  private readonly secret: Uint8Array;

  constructor(privateKeyHex: string) {
    const hex = privateKeyHex.trim().replace(/^0x/i, "");
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw new ProtocolError(
        "err_invalid_private_key",
        "an Ethereum private key is 64 hex characters (0x optional)",
      );
    }
    this.secret = Buffer.from(hex, "hex");
    if (!secp256k1.privateKeyVerify(this.secret)) {
      throw new ProtocolError("err_invalid_private_key", "not a valid secp256k1 private key");
    }
    this.owner = Buffer.from(secp256k1.publicKeyCreate(this.secret, false));
    this.address = ethereumAddress(this.owner);
  }

  sign(deepHash: Uint8Array): Buffer {
    const { signature, recid } = secp256k1.ecdsaSign(ethMessageHash(deepHash), this.secret);
    return Buffer.concat([signature, Buffer.from([27 + recid])]);
  }
}

/** Arweave (ANS-104 type 1): RSA-PSS over SHA-256 of the deep hash, with a 4096-bit key in JWK form. */
export class ArweaveSigner implements Signer {
  readonly signatureType = 1 as const;
  readonly owner: Buffer;
  readonly address: string;
  private readonly key: ReturnType<typeof createPrivateKey>;

  constructor(jwk: JsonWebKey) {
    if (jwk.kty !== "RSA" || typeof jwk.n !== "string" || typeof jwk.d !== "string") {
      throw new ProtocolError(
        "err_invalid_private_key",
        "an Arweave key file is an RSA JWK with n and d",
      );
    }
    this.key = createPrivateKey({ key: jwk, format: "jwk" });
    this.owner = Buffer.from(jwk.n, "base64url");
    if (this.owner.length !== 512)
      throw new ProtocolError("err_invalid_private_key", "Arweave keys are 4096-bit RSA");
    this.address = arweaveAddress(this.owner);
  }

  sign(deepHash: Uint8Array): Buffer {
    return sign("sha256", deepHash, {
      key: this.key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: 32,
    });
  }
}

/** Half the order of secp256k1: a canonical (low-s) signature has s <= this. */
const SECP256K1_HALF_N = BigInt(
  "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0",
);

/**
 * Whether a type-3 signature is valid and canonical: r‖s‖v with s in the lower half of the curve
 * order and v = 27 or 28 recovering exactly `owner`. Any other dressing of the same signature
 * (v = 0/1/255, the flipped v, or s replaced by n − s) is refused, so one signed content has one
 * signature and one id. ethers' `signMessage` (arbundles) and go-ethereum's `crypto.Sign` plus 27
 * (goether, which goar uses) both produce exactly this form.
 */
export function verifyEthereumSignature(
  owner: Uint8Array,
  deepHash: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (signature.length !== 65 || owner.length !== 65) return false;
  const v = signature[64]!;
  if (v !== 27 && v !== 28) return false;
  const rs = Uint8Array.from(signature.subarray(0, 64));
  if (BigInt(`0x${Buffer.from(rs.subarray(32)).toString("hex")}`) > SECP256K1_HALF_N) return false;
  try {
    const recovered = secp256k1.ecdsaRecover(rs, v - 27, ethMessageHash(deepHash), false);
    return Buffer.from(recovered).equals(Buffer.from(owner));
  } catch {
    return false;
  }
}

/**
 * Checks a signature over an item's deep hash: type 3 in its canonical form only (see
 * verifyEthereumSignature), type 1 as RSA-PSS. Types other than 1 and 3 throw
 * err_unrecognized_signature_type.
 */
export function verifySignature(
  type: number,
  owner: Uint8Array,
  deepHash: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (type === 3) return verifyEthereumSignature(owner, deepHash, signature);
  if (type === 1) {
    try {
      const key = createPublicKey({
        key: { kty: "RSA", n: toB64Url(owner), e: "AQAB" },
        format: "jwk",
      });
      return verify(
        "sha256",
        deepHash,
        {
          key,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: constants.RSA_PSS_SALTLEN_AUTO,
        },
        signature,
      );
    } catch {
      return false;
    }
  }
  throw new ProtocolError("err_unrecognized_signature_type", `signature type ${type}`);
}
