import { EthereumSigner } from "../protocol/signers.js";
import { loadOrCreateKey } from "../sys/keyfile.js";

/** The CLI's signing key: --key, else VMDOCKER_KEY, else one made once and kept (0600) in the state folder. */
export function clientSigner(
  explicit: string | undefined,
  keyFile: string,
): { signer: EthereumSigner; note?: string } {
  const given = explicit ?? process.env.VMDOCKER_KEY;
  if (given) return { signer: new EthereumSigner(given) };
  const { signer, created } = loadOrCreateKey(keyFile);
  return created
    ? { signer, note: `created a client key ${signer.address} in ${keyFile}` }
    : { signer };
}
