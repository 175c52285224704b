import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/**
 * The files under `dir` that hold `secret`: as raw bytes, or inside a stored item's base64url
 * `data` (checkpoint and module files), so an encoded copy counts too.
 */
export function filesHolding(
  dir: string,
  secret: string,
  skip: (file: string) => boolean = () => false,
): string[] {
  return allFiles(dir).filter((file) => {
    if (skip(file)) return false;
    const bytes = readFileSync(file);
    if (bytes.includes(secret)) return true;
    if (!file.endsWith(".json")) return false;
    try {
      const data = (JSON.parse(bytes.toString("utf8")) as { data?: unknown }).data;
      return typeof data === "string" && Buffer.from(data, "base64url").includes(secret);
    } catch {
      return false;
    }
  });
}
