import { createHash } from "node:crypto";
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { VmdError } from "../errors.js";
import type { Progress } from "../progress.js";
import { moduleTags } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { Tag } from "../protocol/tags.js";
import type { DockerClient, ImageInfo } from "../runtime/docker/client.js";
import { RUNTIME_START_COMMAND } from "../runtime/images/builder.js";
import { ARCHIVE_FORMAT, DEFAULT_START_COMMAND, IMAGE_SOURCE, VMDOCKER_FORMAT } from "./check.js";
import { aoModuleTags } from "./ao.js";
import { writeModuleFile } from "./write.js";

export type ImageSource =
  | { mode: "pull"; image: string; expectedId?: string }
  | {
      mode: "build";
      dockerfile: string;
      contextDir?: string;
      tag?: string;
      buildArgs: Record<string, string>;
    };

export interface ModuleBuildOptions {
  source: ImageSource;
  signer: Signer;
  outDir: string;
  startCommand?: string;
  sandboxAgent?: string;
  /** The `Openclaw-Version` tag, for a module whose image carries OpenClaw; no tag when unset. */
  openclawVersion?: string;
  /** An AO module (AO's tags, see ao.ts) instead of a plain vmdocker one. */
  ao?: boolean;
}

export interface BuiltModule {
  id: string;
  file: string;
  imageName: string;
  imageId: string;
  archiveBytes: number;
  tags: Tag[];
  seconds: number;
}

/** The tag upstream's generator gives a build without VMDOCKER_BUILD_TAG. */
export function defaultBuildTag(
  dockerfile: string,
  contextDir: string,
  buildArgs: Record<string, string>,
): string {
  const h = createHash("sha256").update(dockerfile).update("\0").update(contextDir).update("\0");
  for (const k of Object.keys(buildArgs).sort()) h.update(`${k}=${buildArgs[k]}`).update("\0");
  return `vmdocker-openclaw:${h.digest("hex").slice(0, 12)}`;
}

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === ".git") return [];
    const p = join(dir, e.name);
    return e.isDirectory() ? listFiles(p, base) : [relative(base, p)];
  });
}

async function resolveImage(
  client: DockerClient,
  source: ImageSource,
  progress: Progress,
): Promise<{ name: string; id: string }> {
  if (source.mode === "pull") {
    const task = progress.task(`image ${source.image}`);
    let info = await client.inspectImage(source.image);
    if (!info) {
      task.update(`pulling ${source.image}`);
      await client.pullImage(source.image);
      info = await client.inspectImage(source.image);
    }
    if (!info)
      throw new VmdError(
        "err_image_missing",
        `image ${source.image} is not in the engine`,
        "build or pull it first",
      );
    if (source.expectedId && info.Id !== source.expectedId) {
      throw new VmdError(
        "err_image_id_mismatch",
        `image ${source.image} is ${info.Id}, not the expected ${source.expectedId}`,
        "drop the expected id (VMDOCKER_SANDBOX_IMAGE_ID / --image-id) or use the matching image",
      );
    }
    task.done(info.Id);
    return { name: source.image, id: info.Id };
  }
  const dockerfile = resolve(source.dockerfile);
  const context = resolve(source.contextDir ?? dirname(dockerfile));
  const rel = relative(context, dockerfile);
  if (rel.startsWith("..")) {
    throw new VmdError(
      "err_bad_build",
      `the Dockerfile ${dockerfile} is outside the build context ${context}`,
      "put the Dockerfile inside the context folder",
    );
  }
  const tag =
    source.tag ?? defaultBuildTag(readFileSync(dockerfile, "utf8"), context, source.buildArgs);
  const task = progress.task(`docker build ${tag}`);
  const id = await client.buildImage(
    { context, src: listFiles(context) },
    { tag, dockerfile: rel, buildargs: source.buildArgs },
    (e) => {
      const m = /^Step (\d+)\/(\d+) : (.*)/.exec(e.stream ?? "");
      if (m) task.update(m[3]!.slice(0, 60), Number(m[1]) / (Number(m[2]) + 1));
    },
  );
  task.done(id);
  return { name: tag, id };
}

/**
 * The Start-Command a module of this image gets when none is given: the image's own command when
 * it is vmdocker's /vmm runtime server (runtime-test, runtime-ao, openclaw; upstream's default
 * script is not in them), else undefined (upstream's default, which upstream's images carry).
 */
function imageStartCommand(info: ImageInfo | null): string | undefined {
  const cmd = [...(info?.Config?.Entrypoint ?? []), ...(info?.Config?.Cmd ?? [])].join(" ");
  return cmd === RUNTIME_START_COMMAND ? cmd : undefined;
}

/**
 * `vmdocker module build`: the image (pulled, local, or built) exported with `docker save`,
 * gzipped, and signed into a module item with upstream's tags (13 for an OpenClaw module, 12
 * without `Openclaw-Version` for others), written as mod-<id>.json.
 * Memory stays bounded: the archive streams to a temporary file and then into the JSON.
 */
export async function buildModule(
  client: DockerClient,
  opts: ModuleBuildOptions,
  progress: Progress,
): Promise<BuiltModule> {
  const started = Date.now();
  const image = await resolveImage(client, opts.source, progress);
  const info = await client.inspectImage(image.name);
  const size = info?.Size ?? 0;
  const startCommand = opts.startCommand ?? imageStartCommand(info) ?? DEFAULT_START_COMMAND;

  const exportTask = progress.task("export (docker save | gzip)");
  mkdirSync(opts.outDir, { recursive: true });
  const gzFile = join(opts.outDir, `.export-${process.pid}-${Date.now()}.tar.gz`);
  const sha384 = createHash("sha384");
  let length = 0;
  let raw = 0;
  try {
    await pipeline(
      await client.saveImage(image.name),
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          raw += chunk.length;
          if (size)
            exportTask.update(`${(raw / 1e6).toFixed(0)} MB read`, Math.min(0.99, raw / size));
          cb(null, chunk);
        },
      }),
      createGzip(),
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          sha384.update(chunk);
          length += chunk.length;
          cb(null, chunk);
        },
      }),
      createWriteStream(gzFile),
    );
    exportTask.done(`${(raw / 1e6).toFixed(1)} MB → ${(length / 1e6).toFixed(1)} MB gzip`);

    const extension = [
      { name: "Sandbox-Agent", value: opts.sandboxAgent ?? "shell" },
      // Upstream's generator tags every module with an OpenClaw version (its default
      // 2026.3.1-beta.1); here only a module that carries OpenClaw says which.
      ...(opts.openclawVersion ? [{ name: "Openclaw-Version", value: opts.openclawVersion }] : []),
      { name: "Start-Command", value: startCommand },
      { name: "Image-Name", value: image.name },
      { name: "Image-ID", value: image.id },
      { name: "Image-Source", value: IMAGE_SOURCE },
      { name: "Image-Archive-Format", value: ARCHIVE_FORMAT },
    ];
    const tags = opts.ao
      ? aoModuleTags(extension)
      : moduleTags({ moduleFormat: VMDOCKER_FORMAT, tags: extension });
    const signTask = progress.task("sign + write module");
    const { id, file } = await writeModuleFile(
      opts.outDir,
      opts.signer,
      tags,
      { file: gzFile, length, sha384: sha384.digest() },
      (w) => signTask.update(`${(w / 1e6).toFixed(0)} MB written`, w / length),
    );
    signTask.done(`${file} (${(statSync(file).size / 1e6).toFixed(1)} MB)`);
    return {
      id,
      file,
      imageName: image.name,
      imageId: image.id,
      archiveBytes: length,
      tags,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    rmSync(gzFile, { force: true });
  }
}
