import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { EthereumSigner } from "../protocol/signers.js";

/** An Ethereum key kept in `file` (hex, mode 0600), created on first use. */
export function loadOrCreateKey(file: string): {
  signer: EthereumSigner;
  hex: string;
  created: boolean;
} {
  if (existsSync(file)) {
    const hex = readFileSync(file, "utf8").trim();
    return { signer: new EthereumSigner(hex), hex, created: false };
  }
  mkdirSync(dirname(file), { recursive: true });
  for (;;) {
    const hex = randomBytes(32).toString("hex");
    try {
      const signer = new EthereumSigner(hex);
      writeFileSync(file, `${hex}\n`, { mode: 0o600 });
      return { signer, hex, created: true };
    } catch {
      // not a valid secp256k1 key (astronomically rare): draw again
    }
  }
}
