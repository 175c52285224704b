// The `openclaw` runtime (spec §1.8) against the real gateway, with upstream's defects (§5) fixed:
// chats run as real agent turns through the gateway's OpenAI-compatible endpoint (the pinned
// OpenClaw has no sessions_create), a spawn-time model is written to the config before the gateway
// starts, API keys go in through OpenClaw's own CLI (its auth store is SQLite now), the gateway
// uses password auth, the chat timeout is its own, and the reply comes back bare as Data.
import { randomUUID } from "node:crypto";
import { STATUS_CODES } from "node:http";
import { runSecurityAudit } from "./openclaw-audit.js";
import { Gateway, STEP_BUDGET_MS, type CliAnswer } from "./openclaw-gateway.js";
import {
  modelRef,
  openclawPaths,
  prepareOpenclaw,
  type TelegramSettings,
} from "./openclaw-config.js";
import type { Meta, Runtime, RuntimeFactory, RuntimeResult, Tag } from "./runtime.js";

const STATE_FORMAT = "openclaw.runtime.v1";

const first = (m: Record<string, string>, keys: string[]) =>
  keys.map((k) => m[k]?.trim()).find((v) => v) ?? "";

const API_KEY_TAGS = [
  "apiKey",
  "ApiKey",
  "APIKey",
  "modelApiKey",
  "ModelApiKey",
  "KIMI_API_KEY",
  "KIMICODE_API_KEY",
  "MOONSHOT_API_KEY",
  "OPENAI_API_KEY",
  "ANTHROPIC_API_KEY",
  "GEMINI_API_KEY",
  "GOOGLE_API_KEY",
];
const MODEL_TAGS = ["model", "Model", "modelName", "ModelName"];
const PROVIDER_TAGS = ["provider", "Provider"];

const ALIASES: Record<string, string> = {
  ping: "Ping",
  query: "Query",
  execute: "Execute",
  chat: "Chat",
  config: "Config",
  configure: "Config",
  configureconfig: "Config",
  setconfig: "Config",
  approvepairing: "ApprovePairing",
  approvepair: "ApprovePairing",
  pairingapprove: "ApprovePairing",
  approvetelegrampairing: "ApprovePairing",
  createsession: "CreateSession",
  closesession: "CloseSession",
  configuremodel: "ConfigureModel",
  setmodel: "ConfigureModel",
  configuretelegram: "ConfigureTelegram",
  telegramconfig: "ConfigureTelegram",
  settelegram: "ConfigureTelegram",
};

export function normalizeAction(meta: Meta, params: Record<string, string>): string {
  const raw = [meta.Action, params.action, params.Action].find((a) => a?.trim())?.trim() ?? "";
  if (!raw) return "Query";
  return ALIASES[raw.toLowerCase()] ?? raw;
}

/** The reason an `openclaw` CLI command gives for failing (its "Reason:" line), else its last line. */
export function cliReason(out: string): string {
  const lines = out.trim().split("\n");
  const reason = lines.find((l) => /^\[openclaw\] Reason: /.test(l));
  return (reason ?? lines.at(-1) ?? "").replace(/^\[openclaw\] (Reason: )?/, "").trim();
}

/** Why an `openclaw` CLI command failed: killed for taking too long, else its own reason. */
export function cliFailure(res: CliAnswer): string {
  const said = cliReason(res.out);
  if (res.timedOutMs)
    return `it did not finish in ${res.timedOutMs / 1000} s${said ? ` (its last line: ${said})` : ""}`;
  return said || `it exited with code ${res.code} and printed nothing`;
}

/** `allowFrom` as a JSON array string or a comma list. */
export function parseAllowFrom(value: string): string[] {
  const v = value.trim();
  if (v.startsWith("[")) {
    try {
      const list = JSON.parse(v) as unknown;
      if (Array.isArray(list)) return list.map(String).filter((s) => s.trim());
    } catch {
      // fall through to a comma list
    }
  }
  return v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The config.patch of ConfigureTelegram (and of a spawn's Telegram tags), from its params; empty
 * when none is given. `apiRoot` points the bot at a self-hosted Bot API server.
 */
export function telegramPatch(
  params: Record<string, string>,
): { channels: { telegram: TelegramSettings } } | undefined {
  const t: TelegramSettings = {};
  for (const key of ["botToken", "defaultAccount", "dmPolicy", "apiRoot"] as const)
    if (params[key]?.trim()) t[key] = params[key].trim();
  if (params.allowFrom?.trim()) t.allowFrom = parseAllowFrom(params.allowFrom);
  if (!Object.keys(t).length) return undefined;
  // OpenClaw's documented rule, which its config validation does not enforce.
  if (t.dmPolicy === "open" && !t.allowFrom?.includes("*"))
    throw new Error('dmPolicy "open" requires allowFrom to include "*" (pass allowFrom=*)');
  return { channels: { telegram: t } };
}

class OpenclawRuntime implements Runtime {
  constructor(
    private readonly gw: Gateway,
    private session: string,
  ) {}

  private result(
    action: string,
    data: string,
    from: string,
    meta: Meta,
    params: Record<string, string>,
    status = 200,
  ): RuntimeResult {
    const reference = params.reference || params.Reference || String(meta.Sequence ?? "");
    const tags: Tag[] = [
      { name: "Runtime", value: "openclaw" },
      { name: "GatewayStatus", value: `${status} ${STATUS_CODES[status] ?? ""}`.trim() },
      { name: "StatusCode", value: String(status) },
      { name: "SessionID", value: this.session },
      { name: "Reference", value: reference },
      // Upstream copies the reply into a tag; a tag value above 3072 bytes would make the message
      // item invalid, so a longer reply is only in Data.
      ...(Buffer.byteLength(data) <= 3072 ? [{ name: "Reply", value: data }] : []),
      ...Object.entries(params)
        .filter(([k]) => k.startsWith("X-"))
        .map(([name, value]) => ({ name, value })),
    ];
    return {
      Messages: [{ Target: from || params.From || "", Data: data, Tags: tags }],
      Spawns: [],
      Assignments: [],
      Output: action === "Chat" ? { action: "Chat", reply: data } : data,
      Data: data,
      Cache: null,
      Error: null,
    };
  }

  /** A gateway control-plane method over its admin HTTP RPC. */
  private async rpc(
    method: string,
    params: Record<string, unknown>,
  ): Promise<Record<string, unknown>> {
    await this.gw.ready();
    const res = await this.gw.call("POST", "/api/v1/admin/rpc", { method, params }, 60_000);
    if (res.json?.ok !== true) {
      const err = res.json?.error as { message?: string } | string | undefined;
      const why = typeof err === "string" ? err : (err?.message ?? res.text);
      throw new Error(`the gateway refused ${method}: ${why}`);
    }
    return (res.json.payload ?? {}) as Record<string, unknown>;
  }

  /**
   * config.patch against the current config's hash; arrays the patch sets are named in
   * replacePaths (the gateway refuses silent array replacement). Answers the changed paths.
   */
  private async patch(
    raw: string,
    baseHash?: string,
    replacePaths: string[] = [],
  ): Promise<string> {
    const hash = baseHash || String((await this.rpc("config.get", {})).hash ?? "");
    let res: Record<string, unknown>;
    try {
      res = await this.rpc("config.patch", {
        raw,
        ...(hash ? { baseHash: hash } : {}),
        ...(replacePaths.length ? { replacePaths } : {}),
      });
    } catch (err) {
      // The patch is on disk but no reload took it (OpenClaw answers "unclaimed" when a reload
      // was already under way): restart the gateway, which is OpenClaw's own advice for this case.
      if (!/persisted but was not applied to the active Gateway/.test((err as Error).message))
        throw err;
      await this.gw.restart();
      return JSON.stringify({ ok: true, restarted: true });
    }
    await this.gw.ready();
    return JSON.stringify({ ok: true, changedPaths: res.changedPaths ?? [] });
  }

  private async chat(message: string, timeoutSeconds: number): Promise<string> {
    await this.gw.ready();
    const res = await this.gw.call(
      "POST",
      "/v1/chat/completions",
      { model: "openclaw", user: this.session, messages: [{ role: "user", content: message }] },
      timeoutSeconds * 1000,
    );
    if (res.status !== 200) {
      const err = res.json?.error as { message?: string } | undefined;
      throw new Error(`the chat failed (HTTP ${res.status}): ${err?.message ?? res.text}`);
    }
    const choices = res.json?.choices as { message?: { content?: string } }[] | undefined;
    return choices?.[0]?.message?.content ?? "";
  }

  async apply(from: string, meta: Meta, params: Record<string, string>): Promise<RuntimeResult> {
    const action = normalizeAction(meta, params);
    const r = (data: string) => this.result(action, data, from, meta, params);
    switch (action) {
      case "Ping": {
        await this.gw.ready();
        return r((await this.gw.call("GET", "/health", undefined, 10_000)).text);
      }
      case "CreateSession":
        this.session = `vmdocker-${randomUUID()}`;
        return r(this.session);
      case "CloseSession": {
        const closed = this.session;
        this.session = `vmdocker-${randomUUID()}`;
        return r(`closed:${closed}`);
      }
      case "ConfigureModel": {
        const ref = modelRef(
          first(params, PROVIDER_TAGS),
          first(params, MODEL_TAGS) || params.Data,
        );
        if (!ref) throw new Error("model is empty: pass a model tag or the model as data");
        await this.patch(JSON.stringify({ agents: { defaults: { model: { primary: ref } } } }));
        return r(ref);
      }
      case "ConfigureTelegram": {
        const patch = telegramPatch(params);
        if (!patch)
          throw new Error("nothing to configure: pass botToken, dmPolicy, allowFrom or apiRoot");
        const arrays = params.allowFrom?.trim() ? ["channels.telegram.allowFrom"] : [];
        return r(await this.patch(JSON.stringify(patch), undefined, arrays));
      }
      case "Config": {
        const raw =
          first(params, ["raw", "Raw", "patch", "Patch", "config", "Config"]) || params.Data || "";
        if (!raw.trim()) throw new Error("the config patch is empty");
        const method = first(params, ["configAction", "ConfigAction", "method", "Method"]);
        if (/apply/i.test(method)) {
          const hash =
            first(params, ["baseHash", "BaseHash", "hash", "Hash"]) ||
            String((await this.rpc("config.get", {})).hash ?? "");
          await this.rpc("config.apply", { raw, ...(hash ? { baseHash: hash } : {}) });
          await this.gw.ready();
          return r(JSON.stringify({ ok: true }));
        }
        return r(
          await this.patch(
            raw,
            first(params, ["baseHash", "BaseHash", "hash", "Hash"]) || undefined,
          ),
        );
      }
      case "ApprovePairing": {
        const channel = (first(params, ["channel", "Channel"]) || "telegram").toLowerCase();
        const code =
          first(params, ["code", "Code", "pairingCode", "PairingCode"]) ||
          (params.Data ?? "").trim();
        if (!code) throw new Error("the pairing code is empty");
        const res = await this.gw.cli(["pairing", "approve", channel, code]);
        if (res.code !== 0) throw new Error(`pairing approve failed: ${cliFailure(res)}`);
        return r(res.out.trim());
      }
      case "Query":
      case "Execute":
      case "Chat": {
        const message =
          first(params, ["command", "Command", "prompt", "Prompt", "input", "Input"]) ||
          (params.Data ?? params.data ?? "").trim();
        if (!message) throw new Error("the message is empty: send it as data or a prompt tag");
        const seconds = Number(first(params, ["timeoutSeconds", "TimeoutSeconds"]) || 600);
        if (!Number.isFinite(seconds) || seconds <= 0)
          throw new Error("timeoutSeconds must be a positive number");
        return r(await this.chat(message, seconds));
      }
      default:
        throw new Error(`openclaw action not supported: ${action}`);
    }
  }

  async checkpoint(): Promise<string> {
    return JSON.stringify({ format: STATE_FORMAT, sessionId: this.session });
  }
}

/**
 * Spawn: config and API key first, then the gateway. Restore: the workspace has both already. Both
 * steps of a spawn share one STEP_BUDGET_MS; each ends on its own signal (the CLI's exit, the
 * gateway's /health or its exit).
 */
export const openclawRuntime: RuntimeFactory = async ({ tags, state }) => {
  const deadline = Date.now() + STEP_BUDGET_MS;
  const paths = openclawPaths();
  runSecurityAudit(process.env.VMDOCKER_RUNTIME_WORKSPACE || paths.state);
  const gw = new Gateway(paths);
  let session = `vmdocker-${randomUUID()}`;
  if (state !== undefined) {
    const parsed = JSON.parse(state || "{}") as { format?: string; sessionId?: string };
    if (parsed.format && parsed.format !== STATE_FORMAT)
      throw new Error(`not an ${STATE_FORMAT} state: ${parsed.format}`);
    if (!parsed.sessionId?.trim()) throw new Error("the state has no sessionId");
    session = parsed.sessionId.trim();
    prepareOpenclaw(paths);
  } else {
    const provider = first(tags, PROVIDER_TAGS);
    const model = first(tags, MODEL_TAGS);
    const apiKey = first(tags, API_KEY_TAGS);
    prepareOpenclaw(paths, {
      provider,
      model,
      providerBaseUrl: first(tags, ["providerBaseUrl", "ProviderBaseUrl", "baseUrl", "BaseUrl"]),
      providerApi: first(tags, ["providerApi", "ProviderApi"]),
      telegram: telegramPatch(tags)?.channels.telegram,
    });
    if (apiKey) {
      const p = (provider || (model.includes("/") ? model.split("/")[0]! : "")).toLowerCase();
      if (!p) throw new Error("provider is required when an apiKey is given (tag provider=...)");
      // OpenClaw keeps keys in its own (SQLite) auth store: its CLI writes them; the key goes on stdin.
      const res = await gw.cli(
        ["models", "auth", "paste-api-key", "--provider", p],
        `${apiKey}\n`,
        deadline - Date.now(),
      );
      if (res.code !== 0) throw new Error(`storing the API key failed: ${cliFailure(res)}`);
    }
  }
  gw.start();
  await gw.ready(Math.max(0, deadline - Date.now()));
  return new OpenclawRuntime(gw, session);
};
