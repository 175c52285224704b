// What provisioning writes into the guest, as pure functions: the gateway's secrets file (a
// systemd EnvironmentFile, 0600), its openclaw.json, and its systemd service. The gateway binds the
// guest's port 18789 on all guest interfaces ("lan") with token auth; secrets reach it through the
// environment and `${VAR}` references in the config, never through a command line.
import { customProviderModel, offlineDefaults } from "../../runtimes/openclaw-config.js";
import { GUEST_COMPILE_CACHE, GUEST_NODE, GUEST_OPENCLAW } from "../images/rootfs.js";

export const GATEWAY_PORT = 18789;

/** The model providers whose key vm-setup takes, and the variable each key travels in. */
export const PROVIDER_KEYS = {
  anthropic: "ANTHROPIC_API_KEY",
  openai: "OPENAI_API_KEY",
  minimax: "MINIMAX_API_KEY",
} as const;

export type KeyedProvider = keyof typeof PROVIDER_KEYS;

/** Everything provisioning configures; secrets included. */
export interface ProvisionInputs {
  model: string;
  skills: string[];
  telegramToken: string;
  telegramUsers: string[];
  /** A self-hosted Telegram Bot API server instead of api.telegram.org. */
  telegramApiRoot: string;
  apiKeys: Partial<Record<KeyedProvider, string>>;
  /** An OpenAI-compatible endpoint for the model's provider (a proxy, vLLM, a gateway of your own). */
  providerBaseUrl: string;
  /** Install (when missing) and configure the browser tools. */
  browser: boolean;
}

/** The provider part of `provider/model`. */
export function modelProvider(model: string): string {
  return model.includes("/") ? model.slice(0, model.indexOf("/")) : "";
}

/** `KEY=value` lines for systemd's EnvironmentFile= (values are checked to need no quoting). */
export function gatewayEnvFile(token: string, inputs: ProvisionInputs): string {
  const lines = [`OPENCLAW_GATEWAY_TOKEN=${token}`];
  if (inputs.telegramToken) lines.push(`TELEGRAM_BOT_TOKEN=${inputs.telegramToken}`);
  for (const [provider, name] of Object.entries(PROVIDER_KEYS)) {
    const key = inputs.apiKeys[provider as KeyedProvider];
    if (key) lines.push(`${name}=${key}`);
  }
  return `${lines.join("\n")}\n`;
}

type Json = Record<string, unknown>;

/** The gateway's openclaw.json for these inputs. */
export function openclawConfig(inputs: ProvisionInputs): Json {
  const provider = modelProvider(inputs.model);
  const config: Json = {
    gateway: {
      mode: "local",
      bind: "lan",
      port: GATEWAY_PORT,
      auth: { mode: "token", token: "${OPENCLAW_GATEWAY_TOKEN}" },
      // A chat through the gateway's OpenAI-compatible endpoint, behind the same token.
      http: { endpoints: { chatCompletions: { enabled: true } } },
    },
    agents: {
      defaults: {
        model: { primary: inputs.model },
        workspace: "/home/openclaw/.openclaw/workspace",
      },
    },
    skills: { allowBundled: inputs.skills, load: { watch: false } },
    browser: inputs.browser
      ? { enabled: true, executablePath: "/usr/bin/chromium", headless: true, noSandbox: true }
      : { enabled: false },
  };
  if (inputs.providerBaseUrl && provider) {
    const id = inputs.model.slice(provider.length + 1);
    const keyVar = PROVIDER_KEYS[provider as KeyedProvider];
    config.models = {
      mode: "merge",
      providers: {
        [provider]: {
          baseUrl: inputs.providerBaseUrl,
          api: "openai-completions",
          ...(keyVar ? { apiKey: `\${${keyVar}}` } : {}),
          models: [customProviderModel(id)],
        },
      },
    };
  }
  // The guest's OpenClaw is pinned in its image (vm-ctl prepare): no update check, no hosted
  // catalog refresh, no Codex harness install. Under emulation both ran right after the start,
  // beside the first chat (the update check's git call timed out, the refresh failed offline).
  offlineDefaults(config);
  if (inputs.telegramToken) {
    config.channels = {
      telegram: {
        enabled: true,
        botToken: "${TELEGRAM_BOT_TOKEN}",
        // With an allow list only those users reach the bot; without one, strangers get a pairing code.
        dmPolicy: inputs.telegramUsers.length ? "allowlist" : "pairing",
        ...(inputs.telegramUsers.length ? { allowFrom: inputs.telegramUsers } : {}),
        ...(inputs.telegramApiRoot ? { apiRoot: inputs.telegramApiRoot } : {}),
      },
    };
  }
  return config;
}

/** The guest's systemd service for the gateway (the seed's openclaw-<id>.service). */
export function openclawUnit(id: string): string {
  return `[Unit]
Description=OpenClaw gateway of vmdemo instance ${id}
Wants=network-online.target
After=network-online.target

[Service]
User=openclaw
Group=openclaw
WorkingDirectory=/home/openclaw
EnvironmentFile=/etc/openclaw/gateway.env
Environment=HOME=/home/openclaw NODE_COMPILE_CACHE=${GUEST_COMPILE_CACHE}
# As in the container image: no self-update, no mDNS announcements on the bridge.
Environment=OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_DISABLE_BONJOUR=1
ExecStart=${GUEST_NODE} ${GUEST_OPENCLAW} gateway --bind lan --port ${GATEWAY_PORT}
Restart=always
RestartSec=2
# An idle gateway drains in seconds; the guest powers off well within the host's grace period.
TimeoutStopSec=30
NoNewPrivileges=yes
ProtectSystem=full
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`;
}
