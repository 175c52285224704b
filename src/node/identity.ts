import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { VmdError } from "../errors.js";
import { ArweaveSigner, EthereumSigner, type Signer } from "../protocol/signers.js";

/**
 * The node's wallet: `prvKey` (hex, wins), else the Arweave key file, else a key generated on the
 * first start and kept (mode 0600) in the data folder so the node's address stays the same.
 */
export function loadNodeSigner(
  cfg: { prvKey: string; keyfilePath: string },
  dataDir: string,
): { signer: Signer; generated: boolean } {
  if (cfg.prvKey) return { signer: new EthereumSigner(cfg.prvKey), generated: false };
  if (cfg.keyfilePath) {
    if (!existsSync(cfg.keyfilePath)) {
      throw new VmdError(
        "err_bad_config",
        `keyfilePath ${cfg.keyfilePath} does not exist`,
        "point keyfilePath at an Arweave JWK file, or set prvKey",
      );
    }
    let jwk: unknown;
    try {
      jwk = JSON.parse(readFileSync(cfg.keyfilePath, "utf8"));
    } catch {
      throw new VmdError(
        "err_bad_config",
        `keyfilePath ${cfg.keyfilePath} is not JSON`,
        "use an Arweave JWK key file",
      );
    }
    return { signer: new ArweaveSigner(jwk as never), generated: false };
  }
  const file = join(dataDir, "node-key.hex");
  if (existsSync(file))
    return { signer: new EthereumSigner(readFileSync(file, "utf8").trim()), generated: false };
  mkdirSync(dirname(file), { recursive: true });
  return { signer: persist(file), generated: true };
}

function persist(file: string): EthereumSigner {
  for (;;) {
    const hex = randomBytes(32).toString("hex");
    try {
      const signer = new EthereumSigner(hex);
      writeFileSync(file, `${hex}\n`, { mode: 0o600 });
      return signer;
    } catch {
      // not a valid secp256k1 key (astronomically rare): draw again
    }
  }
}
