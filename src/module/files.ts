import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { VmdError } from "../errors.js";

export const MODULE_ID = /^[A-Za-z0-9_-]{43}$/;

/** Where a node looks for module files: `<dir>/mod/mod-<id>.json`, then the legacy `<dir>/mod-<id>.json`. */
export function moduleFileCandidates(id: string, baseDir: string): string[] {
  return [join(baseDir, "mod", `mod-${id}.json`), join(baseDir, `mod-${id}.json`)];
}

/** A module id or a path to a module file → the file. */
export function resolveModuleFile(idOrFile: string, baseDir: string): string {
  if (MODULE_ID.test(idOrFile)) {
    const found = moduleFileCandidates(idOrFile, baseDir).find((f) => existsSync(f));
    if (found) return found;
    throw new VmdError(
      "err_not_found_mod",
      `module ${idOrFile} has no file in ${join(baseDir, "mod")} or ${baseDir}`,
      "build it with `vmdocker module build`, or copy its mod-<id>.json into ./mod",
    );
  }
  const path = resolve(idOrFile);
  if (!existsSync(path)) {
    throw new VmdError(
      "err_not_found_mod",
      `${idOrFile} is neither a module id nor a file`,
      "pass a 43-character module id or a path to mod-<id>.json",
    );
  }
  return path;
}

/** Every module file a node in `baseDir` can spawn from (mod/ first, then the legacy place). */
export function listModuleFiles(baseDir: string): string[] {
  const out: string[] = [];
  for (const dir of [join(baseDir, "mod"), baseDir]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort())
      if (/^mod-[A-Za-z0-9_-]{43}\.json$/.test(f)) out.push(join(dir, f));
  }
  return out;
}
