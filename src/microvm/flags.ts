// vm-setup's and vm-ctl provision's options (the seed's Options table and this project's
// additions), checked as a whole before anything on the host is touched. Pure: no I/O.
import { VmdError } from "../errors.js";
import { OPENCLAW_VERSION } from "../runtime/images/sources.js";
import { checkInstanceId } from "./env.js";
import {
  modelProvider,
  PROVIDER_KEYS,
  type KeyedProvider,
  type ProvisionInputs,
} from "./guest/openclaw.js";

export const DEFAULTS = {
  model: "anthropic/claude-opus-4-6",
  skills: "github,tmux,coding-agent,session-logs,skill-creator",
  openclawImage: `openclaw@${OPENCLAW_VERSION}`,
  vcpu: 4,
  memMib: 8192,
} as const;

/** The raw options as a CLI hands them over (strings, as typed). */
export interface RawSetupOptions {
  instance?: string;
  telegramToken?: string;
  telegramUsers?: string;
  telegramApiRoot?: string;
  model?: string;
  skills?: string;
  openclawImage?: string;
  vmVcpu?: string;
  vmMemMib?: string;
  anthropicApiKey?: string;
  openaiApiKey?: string;
  minimaxApiKey?: string;
  providerBaseUrl?: string;
  skipBrowserInstall?: boolean;
  vmm?: string;
  accel?: string;
  network?: string;
  hostPort?: string;
  baseKernel?: string;
  baseRootfs?: string;
  baseInitrd?: string;
}

export interface SetupPlan {
  id: string;
  provision: ProvisionInputs;
  /** The npm release of OpenClaw to run in the guest. */
  openclawVersion: string;
  vcpu: number;
  memMib: number;
  vmm: "auto" | "qemu" | "firecracker";
  accel: "auto" | "kvm" | "tcg";
  network: "bridge" | "user";
  hostPort: number | null;
  baseKernel?: string;
  baseRootfs?: string;
  baseInitrd?: string;
}

const bad = (message: string, hint: string) => new VmdError("err_bad_flag", message, hint);

function intFlag(flag: string, value: string | undefined, dflt: number, min: number, max: number) {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max)
    throw bad(
      `${flag} ${value} is not a whole number from ${min} to ${max}`,
      `pass ${flag} ${dflt}`,
    );
  return n;
}

function oneOf<T extends string>(
  flag: string,
  value: string | undefined,
  allowed: readonly T[],
  dflt: T,
): T {
  if (value === undefined) return dflt;
  if (!allowed.includes(value as T))
    throw bad(`${flag} ${value} is not one of ${allowed.join(", ")}`, `pass ${flag} ${dflt}`);
  return value as T;
}

/**
 * Secrets travel in a systemd EnvironmentFile in the guest: printable ASCII without quotes,
 * backslashes, `$` or spaces (every real key and bot token fits).
 */
function secret(flag: string, value: string | undefined): string {
  const v = (value ?? "").trim();
  if (v && !/^[\x21-\x7e]+$/.test(v))
    throw bad(`${flag} holds spaces or non-ASCII characters`, `check the value of ${flag}`);
  if (/["'`$\\]/.test(v))
    throw bad(`${flag} holds quotes, \`$\` or backslashes`, `check the value of ${flag}`);
  return v;
}

function url(flag: string, value: string | undefined): string {
  const v = (value ?? "").trim();
  if (!v) return "";
  // What an error shows: a password in the URL stays out of terminals and logs.
  const shown = v.replace(/\/\/[^/@\s]*@/, "//***@");
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw bad(`${flag} ${shown} is not a URL`, `pass ${flag} http://host:port/path`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw bad(`${flag} ${shown} is not http(s)`, `pass ${flag} https://host/path`);
  return v.replace(/\/+$/, "");
}

/** `--openclaw-image`: `openclaw@<version>`, a bare version, or the seed's `ghcr.io/openclaw/openclaw:<tag>`. */
export function openclawVersionOf(image: string): string {
  const v = image.trim();
  const m =
    /^(?:npm:)?openclaw@([\w.+-]+)$/.exec(v) ??
    /^(?:ghcr\.io\/)?openclaw\/openclaw:([\w.+-]+)$/.exec(v) ??
    /^(\d{4}\.\d+\.\d+[\w.+-]*)$/.exec(v);
  if (!m)
    throw bad(
      `--openclaw-image ${v} is not an OpenClaw release`,
      `pass openclaw@${OPENCLAW_VERSION} (or ghcr.io/openclaw/openclaw:${OPENCLAW_VERSION}); the guest runs OpenClaw from npm, not Docker`,
    );
  return m[1]!;
}

/**
 * Checks every option and their couplings; returns the plan or throws the first problem.
 * @throws VmdError err_bad_flag / err_bad_instance_id, one line with the fix
 */
export function planSetup(o: RawSetupOptions): SetupPlan {
  const id = checkInstanceId(o.instance);
  const telegramToken = secret("--telegram-token", o.telegramToken);
  const users = (o.telegramUsers ?? "")
    .split(",")
    .map((u) => u.trim())
    .filter(Boolean);
  for (const u of users)
    if (!/^-?\d{1,20}$/.test(u))
      throw bad(
        `--telegram-users: ${u} is not a numeric Telegram user id`,
        "pass ids like 123456789,987654321",
      );
  if (!telegramToken && users.length)
    throw bad(
      "--telegram-users needs --telegram-token (the allow list is for that bot)",
      "pass --telegram-token as well, or leave --telegram-users out",
    );
  if (!telegramToken)
    throw bad(
      "--telegram-token is required",
      "pass the bot token from @BotFather (or set TELEGRAM_BOT_TOKEN so it stays off the command line)",
    );
  if (!/^\d+:[\w-]+$/.test(telegramToken))
    throw bad(
      "--telegram-token does not look like a bot token (<digits>:<secret>)",
      "copy it again from @BotFather",
    );
  const model = (o.model ?? DEFAULTS.model).trim();
  if (!/^[\w.-]+\/[\w.:@/-]+$/.test(model))
    throw bad(`--model ${model} is not provider/model`, `pass --model ${DEFAULTS.model}`);
  const apiKeys: Partial<Record<KeyedProvider, string>> = {};
  const keyFlags: Record<KeyedProvider, string | undefined> = {
    anthropic: o.anthropicApiKey,
    openai: o.openaiApiKey,
    minimax: o.minimaxApiKey,
  };
  for (const [provider, value] of Object.entries(keyFlags)) {
    const v = secret(`--${provider}-api-key`, value);
    if (v) apiKeys[provider as KeyedProvider] = v;
  }
  const provider = modelProvider(model);
  if (provider !== provider.toLowerCase())
    throw bad(
      `--model ${model}: provider names are lowercase`,
      `pass --model ${provider.toLowerCase()}/${model.slice(provider.length + 1)}`,
    );
  if (provider in PROVIDER_KEYS && !apiKeys[provider as KeyedProvider])
    throw bad(
      `--model ${model} needs --${provider}-api-key`,
      `pass --${provider}-api-key (or set ${PROVIDER_KEYS[provider as KeyedProvider]}), or pick a model of a provider whose key you pass`,
    );
  const skills = (o.skills ?? DEFAULTS.skills)
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of skills)
    if (!/^[a-z0-9][a-z0-9-]*$/.test(s))
      throw bad(`--skills: ${s} is not a skill name`, `pass --skills ${DEFAULTS.skills}`);
  const network = oneOf("--network", o.network, ["bridge", "user"] as const, "bridge");
  const vmm = oneOf("--vmm", o.vmm, ["auto", "qemu", "firecracker"] as const, "auto");
  if (vmm === "firecracker" && network === "user")
    throw bad("Firecracker has no user-mode network", "use --network bridge, or --vmm qemu");
  const hostPort =
    o.hostPort === undefined ? null : intFlag("--host-port", o.hostPort, 18890, 1024, 65535);
  return {
    id,
    provision: {
      model,
      skills,
      telegramToken,
      telegramUsers: users,
      telegramApiRoot: url("--telegram-api-root", o.telegramApiRoot),
      apiKeys,
      providerBaseUrl: url("--provider-base-url", o.providerBaseUrl),
      browser: !o.skipBrowserInstall,
    },
    openclawVersion: openclawVersionOf(o.openclawImage ?? DEFAULTS.openclawImage),
    vcpu: intFlag("--vm-vcpu", o.vmVcpu, DEFAULTS.vcpu, 1, 32),
    memMib: intFlag("--vm-mem-mib", o.vmMemMib, DEFAULTS.memMib, 512, 262144),
    vmm,
    accel: oneOf("--accel", o.accel, ["auto", "kvm", "tcg"] as const, "auto"),
    network,
    hostPort,
    ...(o.baseKernel ? { baseKernel: o.baseKernel } : {}),
    ...(o.baseRootfs ? { baseRootfs: o.baseRootfs } : {}),
    ...(o.baseInitrd ? { baseInitrd: o.baseInitrd } : {}),
  };
}
