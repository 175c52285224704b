import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The upstream generator's environment: `.env`, then `cmd/module/.env`, then `../.env` (relative to
 * `cwd`); `KEY=VALUE` lines, `#` comments, values trimmed and unquoted, empty values skipped, and a
 * variable already set in the process environment is never overridden.
 */
export function generatorEnv(cwd: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...env };
  for (const file of [
    join(cwd, ".env"),
    join(cwd, "cmd", "module", ".env"),
    join(cwd, "..", ".env"),
  ]) {
    if (!existsSync(file)) continue;
    for (const raw of readFileSync(file, "utf8").split("\n")) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const eq = line.indexOf("=");
      if (eq <= 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line
        .slice(eq + 1)
        .trim()
        .replace(/^(['"])(.*)\1$/, "$2");
      if (value === "" || merged[key] !== undefined) continue;
      merged[key] = value;
    }
  }
  return merged;
}

/** `VMDOCKER_BUILD_ARG_<NAME>=v` → { NAME: v }. */
export function buildArgsFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const args: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith("VMDOCKER_BUILD_ARG_") && v !== undefined)
      args[k.slice("VMDOCKER_BUILD_ARG_".length)] = v;
  }
  return args;
}
