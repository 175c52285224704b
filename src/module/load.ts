import { createHash } from "node:crypto";
import { VmdError, errorMessage } from "../errors.js";
import type { Task } from "../progress.js";
import type { Tag } from "../protocol/tags.js";
import type { DockerClient } from "../runtime/docker/client.js";
import { startImageUpload } from "../runtime/docker/image-upload.js";
import { checkModule, type ModuleImageSpec } from "./check.js";
import { scanModuleFile } from "./file-scan.js";
import { signatureMatches } from "./inspect.js";

export interface EnsuredImage {
  spec: ModuleImageSpec;
  how: "present" | "retagged" | "loaded";
  seconds: number;
}

/** The module's tags, read from the file's head without touching its data. */
export async function readModuleTags(file: string): Promise<Tag[]> {
  const { header } = await scanModuleFile(file, undefined, { stopAtData: true });
  if (!Array.isArray(header.tags))
    throw new VmdError(
      "err_invalid_module",
      `${file} has no tags`,
      "rebuild it with `vmdocker module build`",
    );
  return header.tags as Tag[];
}

async function hasImage(client: DockerClient, name: string, id: string): Promise<boolean> {
  const info = await client.inspectImage(name);
  return !!info && (info.Id === id || (info.RepoDigests ?? []).some((d) => d.includes(id)));
}

/**
 * Makes sure `Image-Name` with `Image-ID` exists (spec §3.5): present → done; the id present →
 * re-tag; else stream the module's data (base64url → engine image load of the gzip archive),
 * tag, verify.
 * A corrupt, truncated or mismatching archive fails clearly and leaves `Image-Name` as it was.
 */
export async function ensureModuleImage(
  client: DockerClient,
  file: string,
  task?: Task,
): Promise<EnsuredImage> {
  const started = Date.now();
  const spec = checkModule(await readModuleTags(file));
  const done = (how: EnsuredImage["how"]) => ({
    spec,
    how,
    seconds: (Date.now() - started) / 1000,
  });
  if (await hasImage(client, spec.imageName, spec.imageId)) return done("present");
  if (await client.inspectImage(spec.imageId)) {
    await client.tagImage(spec.imageId, spec.imageName);
    if (await hasImage(client, spec.imageName, spec.imageId)) return done("retagged");
  }

  const before = (await client.inspectImage(spec.imageName))?.Id;
  const tagsBefore = await client.listImageTags();
  // The archive goes to the engine as it is (gzip), as `docker load -i x.tar.gz` sends it: the
  // engine decompresses it once, and this process only decodes base64url and hashes. The upload's
  // ring lets decoding run ahead of the engine's read instead of taking turns with it.
  let read = 0;
  let scanError: unknown;
  let loadError: unknown;
  let signed = false;
  let loaded: string[] = [];
  const hash = createHash("sha384");
  try {
    const upload = await startImageUpload(client);
    try {
      const { header, dataBytes } = await scanModuleFile(file, async (bytes) => {
        hash.update(bytes);
        await upload.write(bytes);
        read += bytes.length;
        task?.update(`${(read / 1e6).toFixed(0)} MB loaded`);
      });
      // The signature is checked over the same single pass, before the image is trusted and tagged.
      signed = signatureMatches(file, header, dataBytes, hash.digest());
    } catch (err) {
      scanError = err;
      upload.abort(err instanceof Error ? err : new Error(String(err)));
    }
    loaded = await upload.end();
  } catch (err) {
    loadError = err;
  }
  const failure = scanError ?? loadError;
  try {
    if (failure) {
      throw new VmdError(
        "err_module_image_load",
        `loading the image of ${file} failed: ${errorMessage(failure)}`,
        "rebuild the module, or copy an intact mod-<id>.json",
      );
    }
    if (!signed) {
      throw new VmdError(
        "err_invalid_module",
        `the signature of ${file} does not match its content`,
        "the file was altered: copy or rebuild it",
      );
    }
    if (!(await client.inspectImage(spec.imageId))) {
      throw new VmdError(
        "err_module_image_load",
        `the archive in ${file} holds ${loaded.join(", ") || "no image"}, not Image-ID ${spec.imageId}`,
        "the module does not match its image: rebuild it with `vmdocker module build`",
      );
    }
    await client.tagImage(spec.imageId, spec.imageName);
    if (!(await hasImage(client, spec.imageName, spec.imageId))) {
      throw new VmdError(
        "err_module_image_load",
        `${spec.imageName} does not resolve to ${spec.imageId} after loading`,
        "remove the image and retry",
      );
    }
    return done("loaded");
  } catch (err) {
    await restoreTags(client, spec, before, tagsBefore, loaded);
    throw err;
  }
}

/**
 * After a failed load: `Image-Name` points where it pointed before, and every tag the load added
 * is removed again (which deletes an image only when nothing else refers to it).
 */
async function restoreTags(
  client: DockerClient,
  spec: ModuleImageSpec,
  before: string | undefined,
  tagsBefore: Set<string>,
  loaded: string[],
): Promise<void> {
  const now = (await client.inspectImage(spec.imageName))?.Id;
  if (now && now !== before) {
    if (before) await client.tagImage(before, spec.imageName).catch(() => {});
    else await client.removeImage(spec.imageName).catch(() => {});
  }
  for (const ref of loaded) {
    if (ref === spec.imageName || ref.startsWith("sha256:") || tagsBefore.has(ref)) continue;
    await client.removeImage(ref).catch(() => {});
  }
}
