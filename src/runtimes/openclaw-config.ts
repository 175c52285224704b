// Where OpenClaw keeps its state inside a VMDocker process, and the openclaw.json it starts with
// (spec §1.3-1.4): a template, then the managed overrides applied on every start.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface OpenclawPaths {
  state: string;
  config: string;
  workspace: string;
  logs: string;
}

export function openclawPaths(env: NodeJS.ProcessEnv = process.env): OpenclawPaths {
  const home = env.OPENCLAW_HOME && env.OPENCLAW_HOME !== "/" ? env.OPENCLAW_HOME : env.HOME;
  const state = env.OPENCLAW_STATE_DIR || join(home || "/tmp", ".openclaw");
  return {
    state,
    config: env.OPENCLAW_CONFIG_PATH || join(state, "openclaw.json"),
    workspace: env.OPENCLAW_AGENT_WORKSPACE || join(state, "workspace"),
    logs: join(state, "logs"),
  };
}

/**
 * The config a fresh process starts from: upstream's openclaw.default.json without its default
 * model, plus the HTTP chat endpoint. Upstream's `kimi-coding/k2p5` belongs to the external plugin
 * `@openclaw/kimi-provider`, which the pinned OpenClaw does not ship and npm does not publish: with
 * it a fresh gateway tries to install that plugin on its first start. A spawn without a model gets
 * a gateway with no model, ready for ConfigureModel.
 */
export const CONFIG_TEMPLATE = {
  gateway: {
    mode: "local",
    // vmdocker's Chat goes through the gateway's OpenAI-compatible endpoint (a real agent run).
    http: { endpoints: { chatCompletions: { enabled: true } } },
  },
  // Config and ConfigureTelegram call config.get / config.patch over the gateway's admin HTTP RPC
  // (loopback only, behind the per-start password; the `gateway` tool has no config.patch now).
  plugins: { entries: { "admin-http-rpc": { enabled: true } } },
  tools: { sessions: { visibility: "all" } },
  channels: {
    telegram: {
      enabled: true,
      dmPolicy: "pairing",
      groupPolicy: "open",
      defaultAccount: "main",
      streaming: { mode: "off" },
    },
  },
};

/**
 * The API a built-in provider speaks at a `--base-url` of the user's (others get the
 * OpenAI-compatible chat completions API).
 */
const NATIVE_API: Record<string, string> = { anthropic: "anthropic-messages" };

type Json = Record<string, unknown>;

function at(obj: Json, path: string[]): Json {
  let cur = obj;
  for (const key of path) {
    const next = cur[key];
    if (!next || typeof next !== "object" || Array.isArray(next)) cur[key] = {};
    cur = cur[key] as Json;
  }
  return cur;
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** The model list entry OpenClaw needs for a model of a custom (OpenAI-compatible) provider. */
export function customProviderModel(id: string): Record<string, unknown> {
  return {
    id,
    name: id,
    reasoning: false,
    input: ["text"],
    cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    contextWindow: 32000,
    maxTokens: 4096,
  };
}

/** A model reference `provider/model`: a given provider replaces any prefix the model has. */
export function modelRef(provider: string | undefined, model: string | undefined): string {
  const m = (model ?? "").trim();
  const p = (provider ?? "").trim().toLowerCase();
  if (!m) return "";
  if (!p) return m;
  return `${p}/${m.includes("/") ? m.slice(m.indexOf("/") + 1) : m}`;
}

export interface TelegramSettings {
  botToken?: string;
  defaultAccount?: string;
  dmPolicy?: string;
  apiRoot?: string;
  allowFrom?: string[];
}

export interface SpawnSettings {
  provider?: string;
  model?: string;
  /** An OpenAI-compatible endpoint for `provider` (vLLM, LM Studio, a gateway of your own). */
  providerBaseUrl?: string;
  providerApi?: string;
  /** Telegram tags given at spawn, written before the gateway first starts. */
  telegram?: TelegramSettings;
}

/**
 * What keeps the gateway from reaching out on its own (its docs name each): no update check
 * (`update.checkOnStart`), no hosted model-catalog refresh (`models.catalogRefresh`), and OpenAI
 * models on OpenClaw's own agent runtime: left to itself OpenClaw picks the Codex harness for
 * OpenAI's official endpoint, and that harness is the external plugin `@openclaw/codex`, which a
 * gateway or CLI then tries to install from npm. A value the user set stays. Used for containers
 * and microVM guests alike: both run a pinned OpenClaw that is replaced by a new image, never
 * updated in place. Mutates `config`.
 */
export function offlineDefaults(config: Json): void {
  at(config, ["update"]).checkOnStart ??= false;
  at(config, ["models", "catalogRefresh"]).enabled ??= false;
  at(config, ["models", "providers", "openai", "agentRuntime"]).id ??= "openclaw";
}

/**
 * Creates the state layout, writes openclaw.json from the template when there is none, and applies
 * the managed overrides (workspace, log file, spawn-time model, custom provider and Telegram). Existing keys
 * the user set stay. Returns the config written.
 */
export function prepareOpenclaw(paths: OpenclawPaths, settings: SpawnSettings = {}): Json {
  for (const dir of [
    paths.state,
    paths.logs,
    paths.workspace,
    join(paths.state, "agents", "main", "sessions"),
    join(paths.state, "agents", "main", "agent"),
  ]) {
    mkdirSync(dir, { recursive: true });
    try {
      chmodSync(dir, 0o777);
    } catch {
      // made by the host (already 0777) and owned by another user: nothing to change
    }
  }
  const config: Json = existsSync(paths.config)
    ? (JSON.parse(readFileSync(paths.config, "utf8")) as Json)
    : structuredClone(CONFIG_TEMPLATE);
  const defaults = at(config, ["agents", "defaults"]);
  defaults.workspace = paths.workspace;
  at(config, ["tools", "fs"]).workspaceOnly = true;
  at(config, ["logging"]).file = join(paths.logs, "openclaw.log");
  at(config, ["plugins", "entries", "admin-http-rpc"]).enabled = true;
  // The bundled skills sit in the read-only image, so watching them finds nothing new; and CRIU
  // cannot dump an inotify watch on the image's overlay root, which made criu checkpoints fail.
  at(config, ["skills", "load"]).watch = false;
  offlineDefaults(config);
  const ref = modelRef(settings.provider, settings.model);
  if (ref) at(config, ["agents", "defaults", "model"]).primary = ref;
  if (settings.providerBaseUrl && settings.provider) {
    const providers = at(config, ["models", "providers"]);
    at(config, ["models"]).mode ??= "merge";
    const id = ref.slice(ref.indexOf("/") + 1) || settings.model || "default";
    const provider = settings.provider.toLowerCase();
    providers[provider] = {
      ...at(providers, [provider]),
      baseUrl: settings.providerBaseUrl,
      api: settings.providerApi || NATIVE_API[provider] || "openai-completions",
      models: [customProviderModel(id)],
    };
  }
  if (settings.telegram) Object.assign(at(config, ["channels", "telegram"]), settings.telegram);
  writeAtomic(paths.config, `${JSON.stringify(config, null, 2)}\n`);
  return config;
}
