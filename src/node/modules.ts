import { existsSync } from "node:fs";
import { readModuleTags } from "../module/load.js";
import { MODULE_ID, moduleFileCandidates } from "../module/files.js";
import { ProtocolError } from "../protocol/errors.js";
import { moduleFromTags, type Env } from "../protocol/hymx.js";

/** Modules the node can spawn, from `mod/mod-<id>.json` (or legacy `./mod-<id>.json`) under its folder. */
export class ModuleCatalog {
  private readonly cache = new Map<string, Env["Module"]>();

  constructor(private readonly baseDir: string) {}

  /** The module file of an id; undefined for anything that is not a module id (no paths). */
  file(id: string): string | undefined {
    if (!MODULE_ID.test(id)) return undefined;
    return moduleFileCandidates(id, this.baseDir).find((f) => existsSync(f));
  }

  async get(id: string): Promise<Env["Module"]> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const file = this.file(id);
    if (!file) throw new ProtocolError("err_not_found_mod", id.slice(0, 64));
    const module = moduleFromTags(await readModuleTags(file));
    this.cache.set(id, module);
    return module;
  }
}
