import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { VmdError } from "../errors.js";
import type { Signer } from "../protocol/signers.js";
import type { Tag } from "../protocol/tags.js";
import type { DockerClient } from "../runtime/docker/client.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../runtime/images/builder.js";
import { AO_LOADER_FORMATS, aoModuleTagProblem, isAoLoaderFormat } from "../runtimes/ao-formats.js";
import { AO_COMPUTE_LIMIT, AO_MEMORY_LIMIT } from "./ao.js";
import type { ModuleImageSpec } from "./check.js";
import { scanModuleFile } from "./file-scan.js";
import { signatureMatches } from "./inspect.js";
import { writeModuleFile } from "./write.js";

export { AO_LOADER_FORMATS };

/** The format a user's WASM gets when the build names none (AO's current emscripten format). */
export const DEFAULT_WASM_FORMAT = "wasm32-unknown-emscripten4";

const last = (tags: Tag[], name: string) => [...tags].reverse().find((t) => t.name === name)?.value;

/** Does a module carry an AO WASM binary as its data (its Module-Format is one of AO's loader's)? */
export function isAoWasmModule(tags: Tag[]): boolean {
  return isAoLoaderFormat(last(tags, "Module-Format") ?? "");
}

/**
 * Checks an AO WASM module's tags against what the loader runs (aoModuleTagProblem). Throws
 * VmdError err_invalid_module with a one-line reason and its fix.
 */
export function checkAoWasmModule(tags: Tag[]): void {
  const problem = aoModuleTagProblem((name) => last(tags, name) ?? "");
  if (problem) {
    const [why, fix] = problem.split("; ");
    throw new VmdError("err_invalid_module", why!, fix ?? "rebuild the module");
  }
}

export interface AoWasmBuild {
  /** The WASM file (AO's `handle(msg, env)` ABI, as the loader calls it). */
  wasm: string;
  signer: Signer;
  outDir: string;
  /** A loader format (default DEFAULT_WASM_FORMAT). */
  format?: string;
  /** AO's size, e.g. "500-mb" (default AO_MEMORY_LIMIT). */
  memoryLimit?: string;
  /** Default AO_COMPUTE_LIMIT. */
  computeLimit?: string;
  /** The module's Name tag (aos looks modules up by it), if any. */
  name?: string;
}

/**
 * Signs a WASM binary as an AO module, as AO's own modules are published: the WASM is the item's
 * data, tagged `Data-Protocol: ao`, `Type: Module`, `Module-Format`, the JSON-1 encodings and the
 * limits. Writes `<outDir>/mod-<id>.json`. Throws err_bad_flag for a file that is missing, unreadable or not WASM and
 * err_invalid_module for tags the loader cannot run.
 */
export async function buildAoWasmModule(opts: AoWasmBuild): Promise<{ id: string; file: string }> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(opts.wasm);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new VmdError(
      "err_bad_flag",
      code === "ENOENT"
        ? `--wasm ${opts.wasm}: no such file`
        : code === "EISDIR"
          ? `--wasm ${opts.wasm} is a folder`
          : `--wasm ${opts.wasm} cannot be read (${code ?? (err as Error).message})`,
      "pass the .wasm file your compiler wrote",
    );
  }
  if (bytes.subarray(0, 4).toString("latin1") !== "\0asm")
    throw new VmdError(
      "err_bad_flag",
      `${opts.wasm} is not a WebAssembly binary (it does not start with \\0asm)`,
      "pass the .wasm file your compiler wrote",
    );
  const tags: Tag[] = [
    { name: "Data-Protocol", value: "ao" },
    { name: "Variant", value: "ao.TN.1" },
    { name: "Type", value: "Module" },
    { name: "Module-Format", value: opts.format ?? DEFAULT_WASM_FORMAT },
    { name: "Input-Encoding", value: "JSON-1" },
    { name: "Output-Encoding", value: "JSON-1" },
    { name: "Memory-Limit", value: opts.memoryLimit ?? AO_MEMORY_LIMIT },
    { name: "Compute-Limit", value: opts.computeLimit ?? AO_COMPUTE_LIMIT },
    ...(opts.name ? [{ name: "Name", value: opts.name }] : []),
    { name: "Content-Type", value: "application/wasm" },
  ];
  checkAoWasmModule(tags);
  const sha384 = createHash("sha384").update(bytes).digest();
  return writeModuleFile(opts.outDir, opts.signer, tags, {
    file: opts.wasm,
    length: bytes.length,
    sha384,
  });
}

/**
 * The WASM an AO WASM module carries, read from its file with the signature checked over the same
 * pass. Throws err_invalid_module when the tags cannot run here, the file was altered, or its data
 * is not WASM.
 */
export async function readAoWasm(file: string): Promise<{ tags: Tag[]; wasm: Buffer }> {
  const pieces: Buffer[] = [];
  const hash = createHash("sha384");
  const { header, dataBytes } = await scanModuleFile(file, (b) => {
    hash.update(b);
    pieces.push(Buffer.from(b));
  });
  const tags = (Array.isArray(header.tags) ? header.tags : []) as Tag[];
  checkAoWasmModule(tags);
  if (!signatureMatches(file, header, dataBytes, hash.digest()))
    throw new VmdError(
      "err_invalid_module",
      `the signature of ${file} does not match its content`,
      "the file was altered: copy or rebuild it",
    );
  const wasm = Buffer.concat(pieces);
  if (wasm.subarray(0, 4).toString("latin1") !== "\0asm")
    throw new VmdError(
      "err_invalid_module",
      `the data of ${file} is not a WebAssembly binary`,
      "rebuild it with `vmdocker module build --ao --wasm FILE`",
    );
  return { tags, wasm };
}

/**
 * How a container runs an AO WASM module: in vmdocker/runtime-ao (AO's loader), which must be
 * present (built by `vmdocker images build`, or loaded with the AO module), with the module's WASM
 * to hand to the runtime at spawn and restore. Throws err_invalid_module (see readAoWasm) and
 * err_module_image_load when the runtime image is missing.
 */
export async function aoWasmRuntime(
  client: DockerClient,
  file: string,
): Promise<{ image: ModuleImageSpec; wasm: Buffer }> {
  const { wasm } = await readAoWasm(file);
  const name = IMAGES["runtime-ao"];
  const image = await client.inspectImage(name);
  if (!image)
    throw new VmdError(
      "err_module_image_load",
      `AO WASM modules run in ${name}, which this host does not have`,
      "run `vmdocker images build`, or put the AO module (`vmdocker module build --ao`) in mod/ and spawn it once",
    );
  return {
    image: {
      imageName: name,
      imageId: image.Id,
      startCommand: RUNTIME_START_COMMAND,
      sandboxAgent: "shell",
    },
    wasm,
  };
}
