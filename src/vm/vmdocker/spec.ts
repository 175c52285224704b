import { VmdError } from "../../errors.js";
import { checkModule, type ModuleImageSpec } from "../../module/check.js";
import type { Tag } from "../../protocol/tags.js";
import { DEFAULT_LIMITS, type Limits } from "../../runtime/backends/docker.js";

export interface RuntimeSpec {
  backend: "docker" | "sandbox";
  argv: string[];
  image: ModuleImageSpec;
  /** From `Container-Env-<KEY>` spawn tags: trimmed key, last occurrence wins, sorted. */
  containerEnv: Record<string, string>;
  limits: Limits;
  /** An AO WASM module's binary (base64), handed to the ao runtime at spawn and restore. */
  moduleData?: string;
}

/** Splits a command into argv the way upstream does: spaces separate, quotes group, backslash escapes. No shell. */
export function parseArgv(command: string): string[] {
  const argv: string[] = [];
  let cur = "";
  let quote: string | null = null;
  let has = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (c === "\\" && quote !== "'" && i + 1 < command.length) {
      cur += command[++i];
      has = true;
    } else if (quote) {
      if (c === quote) quote = null;
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (/\s/.test(c)) {
      if (has) argv.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote)
    throw new VmdError(
      "err_bad_start_command",
      `unclosed ${quote} in Start-Command`,
      "close the quote",
    );
  if (has) argv.push(cur);
  return argv;
}

const last = (tags: Tag[], name: string) => [...tags].reverse().find((t) => t.name === name)?.value;

function positive(tags: Tag[], name: string, fallback: number): number {
  const v = last(tags, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new VmdError(
      "err_bad_spawn_tag",
      `${name}=${v} is not a positive number`,
      `set ${name} to a number above 0`,
    );
  return n;
}

/**
 * The runtime of a spawn: module rules (checkModule) plus spawn tags. `Runtime-Backend` comes only
 * from the spawn (docker or sandbox; by default sandbox on macOS/Windows, docker elsewhere; Linux
 * refuses sandbox). A spawn `Start-Command` overrides the module's. `image` replaces the module's
 * own (an AO WASM module runs in the AO runtime's image).
 */
export function resolveRuntimeSpec(
  moduleTags: Tag[],
  spawnTags: Tag[],
  nodeLimits: Limits = DEFAULT_LIMITS,
  platform: NodeJS.Platform = process.platform,
  image: ModuleImageSpec = checkModule(moduleTags),
): RuntimeSpec {
  const requested = last(spawnTags, "Runtime-Backend");
  const backend =
    requested ?? (platform === "darwin" || platform === "win32" ? "sandbox" : "docker");
  if (backend !== "docker" && backend !== "sandbox") {
    throw new VmdError(
      "err_bad_spawn_tag",
      `Runtime-Backend=${backend} is not a backend`,
      "use docker or sandbox",
    );
  }
  if (backend === "sandbox" && platform === "linux") {
    throw new VmdError(
      "err_bad_spawn_tag",
      "Runtime-Backend=sandbox needs Docker Desktop (macOS/Windows)",
      "spawn with Runtime-Backend=docker on Linux",
    );
  }
  const containerEnv: Record<string, string> = {};
  for (const t of spawnTags) {
    if (!t.name.startsWith("Container-Env-")) continue;
    const key = t.name.slice("Container-Env-".length).trim();
    if (key) containerEnv[key] = t.value;
  }
  const sorted = Object.fromEntries(
    Object.entries(containerEnv).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  return {
    backend,
    argv: parseArgv(last(spawnTags, "Start-Command") ?? image.startCommand),
    image,
    containerEnv: sorted,
    limits: {
      memoryBytes:
        positive(spawnTags, "Limit-Memory-MB", nodeLimits.memoryBytes / 2 ** 20) * 2 ** 20,
      pids: positive(spawnTags, "Limit-Pids", nodeLimits.pids),
      cpus: positive(spawnTags, "Limit-Cpus", nodeLimits.cpus),
    },
  };
}
