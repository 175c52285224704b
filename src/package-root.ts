import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The folder holding vmdocker's package.json (and `images/`), from source or from dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, "package.json");
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "vmdocker"
    )
      return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error("vmdocker's package.json not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
