// What AO's loader (@permaweb/ao-loader 0.0.49) runs, and AO's module limits as tags write them.
// Pure: imported by the ao runtime (inside the container) and by the module and VM layers.

/**
 * The `Module-Format` values AO's loader accepts (its index.cjs picks the emscripten glue by
 * them); any other value makes the loader fail on an instance it never built.
 */
export const AO_LOADER_FORMATS = [
  "wasm32-unknown-emscripten",
  "wasm32-unknown-emscripten2",
  "wasm32-unknown-emscripten3",
  "wasm32-unknown-emscripten4",
  "wasm32-unknown-emscripten-metering",
  "wasm64-unknown-emscripten-draft_2024_02_15",
  "wasm64-unknown-emscripten-draft_2024_10_16-metering",
] as const;

/** Is `format` one of AO_LOADER_FORMATS? */
export function isAoLoaderFormat(format: string): boolean {
  return (AO_LOADER_FORMATS as readonly string[]).includes(format);
}

/** The formats whose compute the loader meters (gas counted against Compute-Limit). */
export function isMeteredFormat(format: string): boolean {
  return format.endsWith("-metering");
}

/** The largest memory a wasm32 module can address (4 GiB); wasm64 modules may go to 16 GiB. */
export function maxMemoryOf(format: string): number {
  return format.startsWith("wasm64") ? 16 * 1024 ** 3 : 4 * 1024 ** 3;
}

/**
 * AO's byte sizes as `Memory-Limit` writes them: "500-mb", "1-gb", "16-gb", or a number of bytes.
 * Answers bytes, or undefined for anything else.
 */
export function parseMemoryLimit(text: string): number | undefined {
  const m = /^(\d+)(?:-(b|kb|mb|gb))?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[(m[2] ?? "b").toLowerCase() as "b"];
  return Number(m[1]) * unit;
}

/**
 * Why an AO WASM module's tags cannot run here (one line, with the fix), or null when they can:
 * `Module-Format` must be a loader format, `Memory-Limit` a size within the format's address
 * space, `Compute-Limit` a positive integer, the encodings JSON-1 (the only ones the loader reads).
 */
export function aoModuleTagProblem(get: (name: string) => string): string | null {
  const format = get("Module-Format");
  if (!isAoLoaderFormat(format))
    return `Module-Format ${JSON.stringify(format)} is not one AO's loader runs (${AO_LOADER_FORMATS.join(", ")}); rebuild the module with --module-format set to the format its WASM was compiled for`;
  const memory = get("Memory-Limit");
  const bytes = parseMemoryLimit(memory);
  if (bytes === undefined || bytes <= 0)
    return `Memory-Limit ${JSON.stringify(memory)} is not a size; write it as AO does, e.g. 500-mb or 1-gb`;
  if (bytes > maxMemoryOf(format))
    return `Memory-Limit ${memory} is more than a ${format} module can address (${maxMemoryOf(format) / 1024 ** 3} GiB); lower it`;
  const compute = get("Compute-Limit");
  if (!/^[1-9]\d*$/.test(compute))
    return `Compute-Limit ${JSON.stringify(compute)} is not a positive integer; set it, e.g. 9000000000000`;
  for (const name of ["Input-Encoding", "Output-Encoding"])
    if (get(name) !== "JSON-1")
      return `${name} ${JSON.stringify(get(name))} is not JSON-1, the only encoding AO's loader reads; set ${name}: JSON-1`;
  return null;
}
