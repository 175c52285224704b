import { createReadStream, createWriteStream, mkdirSync, renameSync, rmSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { toB64Url } from "../protocol/base64url.js";
import { idFromSignature, itemDeepHash } from "../protocol/data-item.js";
import type { Signer } from "../protocol/signers.js";
import { encodeTags, type Tag } from "../protocol/tags.js";

export interface StreamedPayload {
  file: string;
  length: number;
  sha384: Buffer;
}

/**
 * Signs an item whose data sits in a file (hashed while it was written) and writes it as
 * `<outDir>/mod-<id>.json` in upstream's field order, streaming the data as base64url. The file
 * appears under its final name only when complete.
 */
export async function writeModuleFile(
  outDir: string,
  signer: Signer,
  tags: Tag[],
  payload: StreamedPayload,
  onProgress?: (written: number) => void,
): Promise<{ id: string; file: string }> {
  const tagsBytes = encodeTags(tags);
  const empty = Buffer.alloc(0);
  const deep = itemDeepHash({
    signatureType: signer.signatureType,
    owner: signer.owner,
    target: empty,
    anchor: empty,
    tagsBytes,
    data: { length: payload.length, sha384: payload.sha384 },
  });
  const signature = signer.sign(deep);
  const id = idFromSignature(signature);
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `mod-${id}.json`);
  const tmp = `${file}.partial`;
  const out = createWriteStream(tmp, { mode: 0o644 });
  const write = async (s: string) => {
    if (!out.write(s)) await once(out, "drain");
  };
  try {
    const head = JSON.stringify({
      signatureType: signer.signatureType,
      signature: toB64Url(signature),
      owner: toB64Url(signer.owner),
      target: "",
      anchor: "",
      tags,
    });
    await write(`${head.slice(0, -1)},"data":"`);
    let carry = Buffer.alloc(0);
    let written = 0;
    for await (const chunk of createReadStream(payload.file, { highWaterMark: 3 << 18 })) {
      const bytes = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
      const usable = bytes.length - (bytes.length % 3);
      await write(bytes.subarray(0, usable).toString("base64url"));
      carry = Buffer.from(bytes.subarray(usable));
      written += (chunk as Buffer).length;
      onProgress?.(written);
    }
    await write(
      `${carry.toString("base64url")}","id":${JSON.stringify(id)},"tagsBy":${JSON.stringify(toB64Url(tagsBytes))}}`,
    );
    out.end();
    await once(out, "finish");
    renameSync(tmp, file);
  } catch (err) {
    out.destroy();
    rmSync(tmp, { force: true });
    throw err;
  }
  return { id, file };
}
