import { existsSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { VmdError } from "../errors.js";

// Config files are read with YAML's failsafe schema (every scalar is a string), as viper does for
// string keys: an unquoted `prvKey: 0x64dd...` stays text instead of becoming a lossy number.
// Booleans and numbers are then read from their text.
const bool = z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());

const LISTEN_ADDRESS = /^([\w.-]*|\[[0-9a-fA-F:]+\]):\d{1,5}$/;
const listenAddressText = z
  .string()
  .regex(LISTEN_ADDRESS, 'a listen address like ":8080" or "0.0.0.0:8080"');

const ConfigSchema = z
  .object({
    port: listenAddressText.default(":8080"),
    adminPort: z.union([z.literal(""), listenAddressText]).default(""),
    ginMode: z.enum(["debug", "release"]).default("release"),
    redisURL: z.string().default(""),
    arweaveURL: z.string().default("https://arweave.net"),
    hymxURL: z.string().default("http://127.0.0.1:8080"),
    prvKey: z.string().default(""),
    keyfilePath: z.string().default(""),
    nodeName: z.string().default("vmdocker"),
    nodeDesc: z.string().default(""),
    nodeURL: z.string().default("http://127.0.0.1:8080"),
    joinNetwork: bool.default(false),
    /** vmdocker: where the embedded store and the node key live. */
    dataDir: z.string().default("./data"),
    /** vmdocker: processes in containers get `<workspaceRoot>/sandbox_workspace/<pid>`. */
    workspaceRoot: z.string().default("."),
    /** vmdocker: how processes in containers are checkpointed unless a spawn says (`Checkpoint-Kind`). */
    checkpointKind: z.enum(["workspace", "criu"]).default("workspace"),
    /** vmdocker: a fresh node spawns its own token and registry processes. */
    coreProcesses: bool.default(true),
    /** vmdocker: bearer token for the admin API (empty: generated into dataDir/admin-token). */
    adminToken: z.string().default(""),
    /** vmdocker: seconds between checkpoints of processes that changed (0: only at shutdown and admin stop). */
    checkpointInterval: z.coerce.number().int().min(0).default(300),
    /** vmdocker: started containers kept ready per module runtime, so its next spawn skips the start (0: off). */
    warmPool: z.coerce.number().int().min(0).max(32).default(1),
    /** vmdocker: the largest item POST / accepts. */
    maxBodyBytes: z.coerce
      .number()
      .int()
      .positive()
      .default(100 * 1024 * 1024),
  })
  .strict();

export type NodeConfig = z.infer<typeof ConfigSchema>;

/** Environment overrides: VMDOCKER_<KEY> with the key in upper snake case (VMDOCKER_REDIS_URL=...). */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.shape)) {
    const name = `VMDOCKER_${key.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()}`;
    if (env[name] !== undefined) out[key] = env[name];
  }
  return out;
}

export function loadConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): NodeConfig {
  let raw: unknown = {};
  if (path) {
    if (!existsSync(path)) {
      throw new VmdError(
        "err_bad_config",
        `config file ${path} does not exist`,
        "pass --config with a config.yaml (see README)",
      );
    }
    try {
      raw = parse(readFileSync(path, "utf8"), { schema: "failsafe" }) ?? {};
    } catch (err) {
      throw new VmdError(
        "err_bad_config",
        `${path} is not valid YAML: ${(err as Error).message.split("\n")[0]}`,
        "fix the YAML syntax",
      );
    }
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new VmdError(
        "err_bad_config",
        `${path} is not a YAML mapping of keys`,
        "write one `key: value` per line",
      );
    }
  }
  const parsed = ConfigSchema.safeParse({ ...(raw as object), ...envOverrides(env) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join(".") || (issue as { keys?: string[] }).keys?.join(", ") || "config";
    throw new VmdError(
      "err_bad_config",
      `${path ?? "config"}: ${key}: ${issue.message}`,
      "see the Configuration section of the README for every key",
    );
  }
  checkDistinctPorts(parsed.data, path ?? "config");
  return parsed.data;
}

const WILDCARD_HOSTS = new Set(["0.0.0.0", "::"]);

/**
 * Throws err_bad_config when `adminPort` would bind the same port as `port` (same fixed port on the
 * same host, or on a wildcard host that covers the other): the admin listener could never start.
 * `source` names the config in the message.
 */
export function checkDistinctPorts(
  cfg: Pick<NodeConfig, "port" | "adminPort">,
  source = "config",
): void {
  if (!cfg.adminPort) return;
  const api = listenAddress(cfg.port);
  const admin = listenAddress(cfg.adminPort);
  if (api.port === 0 || api.port !== admin.port) return;
  if (api.host !== admin.host && !WILDCARD_HOSTS.has(api.host) && !WILDCARD_HOSTS.has(admin.host))
    return;
  throw new VmdError(
    "err_bad_config",
    `${source}: adminPort ${cfg.adminPort} is the same port as port ${cfg.port}`,
    "give adminPort a port of its own (e.g. port + 1)",
  );
}

/** ":8080" binds loopback only (security by default); an explicit host binds that host. */
export function listenAddress(port: string): { host: string; port: number } {
  const at = port.lastIndexOf(":");
  const host = port.slice(0, at).replace(/^\[|\]$/g, "");
  return { host: host || "127.0.0.1", port: Number(port.slice(at + 1)) };
}
