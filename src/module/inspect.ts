import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import { VmdError } from "../errors.js";
import { fromB64Url } from "../protocol/base64url.js";
import { BundleItemJsonSchema, idFromSignature, itemDeepHash } from "../protocol/data-item.js";
import { ownerAddress, verifySignature, type SignatureType } from "../protocol/signers.js";
import { decodeTags, encodeTags, type Tag } from "../protocol/tags.js";
import { scanModuleFile } from "./file-scan.js";

export interface ModuleSummary {
  id: string;
  file: string;
  fileBytes: number;
  dataBytes: number;
  signatureType: number;
  signer: string;
  tags: Tag[];
  /** Present after a full verification. */
  verified?: { signature: boolean; id: boolean };
}

function summarise(
  file: string,
  header: Record<string, unknown>,
  dataBytes: number,
): ModuleSummary & { parts: ReturnType<typeof parts> } {
  const parsed = BundleItemJsonSchema.safeParse(header);
  if (!parsed.success) {
    throw new VmdError(
      "err_invalid_module",
      `${file} is not a signed item: ${parsed.error.issues[0]?.message}`,
      "rebuild it with `vmdocker module build`",
    );
  }
  const p = parts(parsed.data);
  const signer = ownerAddress(parsed.data.signatureType as SignatureType, p.owner);
  return {
    id: parsed.data.id ?? idFromSignature(p.signature),
    file,
    fileBytes: statSync(file).size,
    dataBytes,
    signatureType: parsed.data.signatureType,
    signer,
    tags: p.tags,
    parts: p,
  };
}

function parts(j: {
  signature: string;
  owner: string;
  target: string;
  anchor: string;
  tags: Tag[] | null;
  tagsBy?: string;
}) {
  const tags = j.tags ?? [];
  const tagsBytes = j.tagsBy ? fromB64Url(j.tagsBy, "tagsBy") : encodeTags(tags);
  if (
    j.tagsBy &&
    JSON.stringify(decodeTags(tagsBytes)) !==
      JSON.stringify(tags.map((t) => ({ name: t.name, value: t.value })))
  ) {
    throw new VmdError(
      "err_invalid_module",
      "the module's tags and tagsBy disagree",
      "rebuild it with `vmdocker module build`",
    );
  }
  return {
    signature: fromB64Url(j.signature, "signature"),
    owner: fromB64Url(j.owner, "owner"),
    target: fromB64Url(j.target, "target"),
    anchor: fromB64Url(j.anchor, "anchor"),
    tags,
    tagsBytes,
  };
}

/** Tags, sizes and signer of a module file, read without loading its data into memory. */
export async function inspectModuleFile(file: string): Promise<ModuleSummary> {
  const { header, dataBytes } = await scanModuleFile(file);
  const { parts: _parts, ...summary } = summarise(file, header, dataBytes);
  return summary;
}

function checkSignature(
  file: string,
  header: Record<string, unknown>,
  dataBytes: number,
  dataSha384: Buffer,
) {
  const { parts: p, ...summary } = summarise(file, header, dataBytes);
  const deep = itemDeepHash({
    signatureType: summary.signatureType,
    owner: p.owner,
    target: p.target,
    anchor: p.anchor,
    tagsBytes: p.tagsBytes,
    data: { length: dataBytes, sha384: dataSha384 },
  });
  const signature = verifySignature(summary.signatureType, p.owner, deep, p.signature);
  return { ...summary, verified: { signature, id: summary.id === idFromSignature(p.signature) } };
}

/** True when a scanned module's signature covers its data (hashed by the caller while streaming) and its id. */
export function signatureMatches(
  file: string,
  header: Record<string, unknown>,
  dataBytes: number,
  dataSha384: Buffer,
): boolean {
  const { verified } = checkSignature(file, header, dataBytes, dataSha384);
  return verified.signature && verified.id;
}

/** Like inspect, and checks the signature over the streamed data and that the id matches it. */
export async function verifyModuleFile(file: string): Promise<ModuleSummary> {
  const hash = createHash("sha384");
  const { header, dataBytes } = await scanModuleFile(file, (b) => void hash.update(b));
  return checkSignature(file, header, dataBytes, hash.digest());
}
