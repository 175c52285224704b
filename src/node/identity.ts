import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { VmdError } from "../errors.js";
import { Cryptor } from "../protocol/ecies.js";
import { ArweaveSigner, EthereumSigner, type Signer } from "../protocol/signers.js";
import { loadOrCreateKey } from "../sys/keyfile.js";

/**
 * The node's wallet (and, with an Ethereum key, its ECIES cryptor for `Encrypted-*` params): `prvKey` (hex, wins), else the Arweave key file, else a key generated on the
 * first start and kept (mode 0600) in the data folder so the node's address stays the same.
 */
export function loadNodeSigner(
  cfg: { prvKey: string; keyfilePath: string },
  dataDir: string,
): { signer: Signer; cryptor?: Cryptor; generated: boolean } {
  if (cfg.prvKey)
    return {
      signer: new EthereumSigner(cfg.prvKey),
      cryptor: new Cryptor(cfg.prvKey),
      generated: false,
    };
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
  const { signer, hex, created } = loadOrCreateKey(join(dataDir, "node-key.hex"));
  return { signer, cryptor: new Cryptor(hex), generated: created };
}
