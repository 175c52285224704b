import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test, type TestContext } from "node:test";
import { HymxClient } from "../../src/client/client.js";
import { buildModule } from "../../src/module/build.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { OPENCLAW_VERSION } from "../../src/runtime/images/sources.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { postDryRun } from "../helpers/client.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { admin as callAdmin } from "../helpers/admin.js";
import { vmdockerAsync, type CliRun } from "../helpers/cli.js";
import { testClient } from "../helpers/engine.js";
import { FakeLlm } from "../helpers/fake-llm.js";
import { FakeTelegram } from "../helpers/fake-telegram.js";
import { filesHolding } from "../helpers/secrets.js";

// OpenClaw for real in a VMDocker process: the pinned gateway in its container, a chat flowing
// client → node → container → OpenClaw → provider and back. No LLM provider is reachable from
// here, so the providers are this test's own servers speaking OpenAI's and Anthropic's APIs on the
// Docker bridge.
const docker = testClient();
const base = mkdtempSync(join(tmpdir(), "vmd-openclaw-"));
const API_KEY = `sk-test-${Date.now()}`;
const BOT_TOKEN = `${Date.now() % 1e9}:bot-secret-token`;
const telegram = new FakeTelegram(BOT_TOKEN);
let running: RunningNode;
let client: HymxClient;
/** A second key: not the bots' owner. */
let otherKey: HymxClient;
let moduleId: string;
const openai = new FakeLlm("openai-chat", "fake");
const anthropic = new FakeLlm("anthropic-messages", "anthropic");
/** The chat requests the OpenAI-compatible provider got, as the tests read them. */
const seen = () =>
  openai.chats().map((c) => ({
    auth: c.headers.authorization,
    model: c.body.model,
    messages: c.body.messages ?? [],
  }));

before(async () => {
  const gateway = await docker.networkGateway("bridge");
  const host = gateway ?? "127.0.0.1";
  await openai.start(host);
  await anthropic.start(host);
  await telegram.start(host);
  const mod = await buildModule(
    docker,
    {
      source: { mode: "pull", image: IMAGES.openclaw },
      signer: new EthereumSigner(CLIENT_KEY),
      outDir: join(base, "mod"),
      startCommand: RUNTIME_START_COMMAND,
      openclawVersion: OPENCLAW_VERSION,
    },
    silentProgress,
  );
  moduleId = mod.id;
  // The seed's cold start: the image exists only as the module's data until the first spawn.
  // Process containers of nodes that died with OpenClaw processes (earlier runs) hold the image.
  for (const c of await docker.listContainers({
    ancestor: [IMAGES.openclaw],
    label: ["org.vmdocker.role=process"],
  }))
    await docker.removeContainer(c.Id, { force: true });
  await docker.removeImage(IMAGES.openclaw);
  assert.equal(await docker.inspectImage(IMAGES.openclaw), null, "the image is gone");
  const cfg = loadConfig(undefined, {
    VMDOCKER_PORT: ":0",
    VMDOCKER_ADMIN_PORT: ":0",
    VMDOCKER_WARM_POOL: "0",
  });
  running = await startNode(cfg, { baseDir: base, vms: new VmRegistry(), log: () => {}, docker });
  client = new HymxClient({ url: running.url, signer: new EthereumSigner(CLIENT_KEY) });
  otherKey = new HymxClient({ url: running.url, signer: new EthereumSigner("7e".repeat(32)) });
});

after(async () => {
  await running?.close();
  openai.close();
  anthropic.close();
  telegram.close();
  rmSync(base, { recursive: true, force: true });
});

/**
 * How long a test waits for the node's answer: the node itself answers every message within its
 * 600 s budget for a runtime call (runtime-call.ts), with the runtime's own reason when it fails.
 */
const ANSWER_MS = 660_000;

async function send(
  pid: string,
  action: string,
  data = "",
  tags: Record<string, string> = {},
  as = client,
) {
  const id = await as.message({
    pid,
    action,
    data,
    tags: Object.entries(tags).map(([name, value]) => ({ name, value })),
  });
  return as.waitResult(pid, id, ANSWER_MS);
}

let pid: string;

test("cold start from module data, with provider, model, Telegram and an encrypted key and bot token: the image is loaded, the gateway is up, the secrets are in OpenClaw's store and nowhere in the node's items", async (t) => {
  const started = Date.now();
  pid = await client.spawn({
    module: moduleId,
    tags: [
      { name: "provider", value: "openai" },
      { name: "model", value: "gpt-4.1-mini" },
      { name: "providerBaseUrl", value: openai.url },
      { name: "apiRoot", value: telegram.url },
      { name: "dmPolicy", value: "pairing" },
    ],
    secrets: { apiKey: API_KEY, botToken: BOT_TOKEN },
  });
  const spawned = await client.waitResult(pid, pid, ANSWER_MS);
  t.diagnostic(`cold spawn (image loaded from module data): ${(Date.now() - started) / 1000} s`);
  assert.equal(spawned.Error, "", spawned.Error);
  assert.ok(await docker.inspectImage(IMAGES.openclaw), "the module's data put the image back");
  const ping = await send(pid, "Ping");
  assert.equal(ping.Error, "");
  assert.match(ping.Data, /"ok":\s*true/);
  const ws = join(base, "sandbox_workspace", pid);
  const config = JSON.parse(readFileSync(join(ws, ".openclaw", "openclaw.json"), "utf8")) as {
    agents: { defaults: { model: { primary: string } } };
  };
  assert.equal(
    config.agents.defaults.model.primary,
    "openai/gpt-4.1-mini",
    "the spawn-time model is set",
  );
  for (const secret of [API_KEY, BOT_TOKEN])
    assert.deepEqual(
      filesHolding(base, secret, (f) => f.includes("sandbox_workspace")),
      [],
      "no stored item, result or checkpoint of the node holds the key or the bot token",
    );
});

test("chat through the openai provider: the reply comes back bare as Data, the key reached the provider as OpenAI expects it", async () => {
  const r = await send(pid, "Chat", "hello there");
  assert.equal(r.Error, "", r.Error);
  assert.match(r.Data, /^fake reply #\d+$/, "the bare reply, no JSON around it");
  const call = seen().at(-1)!;
  assert.ok(
    JSON.stringify(call.messages).includes("hello there"),
    "the message reached the provider",
  );
  assert.equal(call.auth, `Bearer ${API_KEY}`, "OpenClaw authenticated with the stored key");
  assert.equal(call.model, "gpt-4.1-mini");
  assert.deepEqual((r.Output as { action: string }).action, "Chat");
  const tags = Object.fromEntries(r.Messages![0]!.Tags!.map((t) => [t.name, t.value]));
  assert.equal(tags.Reply, r.Data, "upstream's Reply tag");
  assert.equal(tags.GatewayStatus, "200 OK");
  assert.equal(tags.Runtime, "openclaw");
});

test("two keys: another key's Config, ConfigureModel, ConfigureTelegram, ApprovePairing and Chat are refused with err_unauthorized and reach nothing; a dry-run Chat is refused, not run", async () => {
  const file = join(base, "sandbox_workspace", pid, ".openclaw", "openclaw.json");
  const config = readFileSync(file, "utf8");
  const calls = seen().length;
  const attempts: [string, string, Record<string, string>][] = [
    ["Config", JSON.stringify({ agents: { defaults: { model: { primary: "evil/x" } } } }), {}],
    ["ConfigureModel", "", { provider: "evil", model: "x" }],
    ["ConfigureTelegram", "", { apiRoot: "http://127.0.0.1:9/elsewhere" }],
    ["ApprovePairing", "", { code: "ABCDEF12" }],
    ["Chat", "use the owner's key for me", {}],
  ];
  for (const [action, data, tags] of attempts) {
    const r = await send(pid, action, data, tags, otherKey);
    assert.match(r.Error, /^err_unauthorized: \w+ is for the process owner/, action);
  }
  assert.equal(seen().length, calls, "the provider heard nothing");
  assert.equal(readFileSync(file, "utf8"), config, "the config is unchanged");
  const dry = await postDryRun(running.url, pid, {
    Owner: client.address,
    Data: "a dry-run that would call the provider",
    Tags: [{ name: "Action", value: "Chat" }],
  });
  assert.deepEqual([dry.status, dry.body.error], [400, "err_dry_run_unsupported"]);
  assert.equal(seen().length, calls, "the dry-run called no provider");
  const own = await send(pid, "Ping");
  assert.equal(own.Error, "", "the owner still drives it");
});

test("pairing: a stranger gets a code from the bot, ApprovePairing lets them in, and their next message gets the agent's reply", async () => {
  const stranger = 4242;
  telegram.userSays(stranger, "hi bot");
  const offer = await telegram.waitForSent(stranger, /Pairing code/, 120_000);
  const code = /Pairing code:\s*(?:<[^>]+>\s*)*([A-Z0-9]{6,})/.exec(offer.text)?.[1];
  assert.ok(code, `a pairing code in ${JSON.stringify(offer.text)}`);
  const wrong = await send(pid, "ApprovePairing", "", { code: "NOSUCH99" });
  assert.match(wrong.Error, /No pending pairing request found for code "NOSUCH99"/);
  const approved = await send(pid, "ApprovePairing", "", { code });
  assert.equal(approved.Error, "", approved.Error);
  assert.match(approved.Data, new RegExp(`Approved telegram sender ${stranger}`));
  const before = seen().length;
  telegram.userSays(stranger, "now can we talk?");
  const reply = await telegram.waitForSent(stranger, /^fake reply #\d+$/, 120_000);
  // A provider's answer made after the DM (OpenClaw may retry a turn that a channel reload cut).
  assert.ok(
    Number(/#(\d+)$/.exec(reply.text)![1]) > before,
    `the provider's answer went back over Telegram: ${reply.text}`,
  );
  // The DM reached the provider in one of the calls made since (OpenClaw may make more calls).
  assert.ok(
    seen()
      .slice(before)
      .some((c) => JSON.stringify(c.messages).includes("now can we talk?")),
    "the stranger's DM reached the provider",
  );
});

test("ConfigureTelegram: an open DM policy with allowFrom * is applied by the gateway; one without, and an invalid patch, are refused with the reason", async () => {
  const okPatch = await send(pid, "ConfigureTelegram", "", {
    defaultAccount: "main",
    dmPolicy: "open",
    allowFrom: "*",
  });
  assert.equal(okPatch.Error, "", okPatch.Error);
  const file = join(base, "sandbox_workspace", pid, ".openclaw", "openclaw.json");
  const settings = () =>
    (
      JSON.parse(readFileSync(file, "utf8")) as {
        channels: { telegram: { dmPolicy: string; allowFrom: string[]; botToken: string } };
      }
    ).channels.telegram;
  assert.equal(settings().dmPolicy, "open");
  assert.deepEqual(settings().allowFrom, ["*"]);
  assert.equal(settings().botToken, BOT_TOKEN, "the spawn's token stays");
  const noStar = await send(pid, "ConfigureTelegram", "", { dmPolicy: "open", allowFrom: "12345" });
  assert.match(noStar.Error, /dmPolicy "open" requires allowFrom to include "\*"/);
  const invalid = await send(pid, "ConfigureTelegram", "", { dmPolicy: "sometimes" });
  assert.match(invalid.Error, /the gateway refused config\.patch/);
  assert.deepEqual(settings().allowFrom, ["*"], "refused patches change nothing");
  assert.equal(settings().dmPolicy, "open");
});

test("a gateway killed inside the container is back by the next message", async () => {
  const ws = join(base, "sandbox_workspace", pid);
  const gatewayPid = readFileSync(join(ws, ".openclaw", "logs", "gateway.pid"), "utf8").trim();
  const killed = await docker.exec(`hymatrix_${pid}`, ["sh", "-c", `kill -9 ${gatewayPid}`]);
  assert.equal(killed.exitCode, 0, killed.stderr);
  const r = await send(pid, "Chat", "hello again");
  assert.equal(r.Error, "", r.Error);
  assert.match(r.Data, /fake reply/);
  const now = readFileSync(join(ws, ".openclaw", "logs", "gateway.pid"), "utf8").trim();
  assert.notEqual(now, gatewayPid, "a new gateway process");
});

test("workspace checkpoint + restore keeps the config, the key and the session history", async () => {
  const admin = (path: string) => callAdmin(running, path, pid);
  assert.deepEqual(await admin("/admin/vms/stop"), { id: pid, message: "stopped" });
  assert.deepEqual(await admin("/admin/vms/resume"), { id: pid, message: "resumed" });
  const r = await send(pid, "Chat", "after the restore");
  assert.equal(r.Error, "", r.Error);
  const call = seen().at(-1)!;
  assert.equal(call.auth, `Bearer ${API_KEY}`, "the key survived");
  const history = JSON.stringify(call.messages);
  assert.ok(history.includes("hello there"), "the session's earlier turns were sent again");
  const tg = readFileSync(
    join(base, "sandbox_workspace", pid, ".openclaw", "openclaw.json"),
    "utf8",
  );
  assert.match(tg, /"dmPolicy": "open"/);
});

test("criu checkpoint + restore: the gateway comes back from memory (same process, no restart) with its config, key, session history and Telegram bot", async () => {
  const bot = new FakeTelegram(`${Date.now() % 1e9}:second-bot`);
  after(() => bot.close());
  await bot.start(new URL(telegram.url).hostname);
  const criuPid = await client.spawn({
    module: moduleId,
    tags: [
      { name: "provider", value: "fake" },
      { name: "model", value: "fake-model" },
      { name: "providerBaseUrl", value: openai.url },
      { name: "Checkpoint-Kind", value: "criu" },
      { name: "apiRoot", value: bot.url },
      { name: "dmPolicy", value: "open" },
      { name: "allowFrom", value: "*" },
      { name: "Allowed-Senders", value: otherKey.address },
    ],
    secrets: { apiKey: API_KEY, botToken: bot.token },
  });
  const spawned = await client.waitResult(criuPid, criuPid, ANSWER_MS);
  assert.equal(spawned.Error, "", spawned.Error);
  const first = await send(criuPid, "Chat", "the password is swordfish");
  assert.equal(first.Error, "", first.Error);
  const logs = join(base, "sandbox_workspace", criuPid, ".openclaw", "logs");
  const gatewayPid = readFileSync(join(logs, "gateway.pid"), "utf8").trim();

  const admin = (path: string) => callAdmin(running, path, criuPid);
  assert.deepEqual(await admin("/admin/vms/stop"), { id: criuPid, message: "stopped" });
  assert.deepEqual(await admin("/admin/vms/resume"), { id: criuPid, message: "resumed" });

  const alive = await docker.exec(`hymatrix_${criuPid}`, ["sh", "-c", `kill -0 ${gatewayPid}`]);
  assert.equal(alive.exitCode, 0, "the gateway process from before the stop runs again");
  assert.equal(readFileSync(join(logs, "gateway.pid"), "utf8").trim(), gatewayPid);
  // The spawn allowed the second key to chat (the rule survives the restore), never to configure.
  const r = await send(criuPid, "Chat", "what was the password?", {}, otherKey);
  assert.equal(r.Error, "", r.Error);
  const config = await send(criuPid, "ConfigureModel", "", { model: "fake/other" }, otherKey);
  assert.match(config.Error, /^err_unauthorized/);
  assert.match(r.Data, /^fake reply #\d+$/);
  const call = seen().at(-1)!;
  assert.equal(call.auth, `Bearer ${API_KEY}`, "the key survived");
  assert.ok(JSON.stringify(call.messages).includes("swordfish"), "the session's history survived");
  // The bot's long poll was an open connection at the dump: it came back closed and reconnected.
  bot.userSays(5151, "are you back?");
  const answer = await bot.waitForSent(5151, /^fake reply #\d+$/, 120_000);
  assert.ok(answer, "an open-policy DM after the restore is answered by the agent");
});

const cli = vmdockerAsync;

test("the openclaw CLI: chat prints the bare reply; telegram with a bad policy exits 1 with the reason", async () => {
  const common = ["--url", running.url, "--key", CLIENT_KEY];
  const chat = await cli(["openclaw", "chat", pid, "hello from the cli", ...common]);
  assert.equal(chat.code, 0, chat.stderr);
  assert.match(chat.stdout.trim(), /^fake reply #\d+$/);
  const tg = await cli([
    "openclaw",
    "telegram",
    pid,
    "--dm-policy",
    "open",
    "--allow-from",
    "42",
    ...common,
  ]);
  assert.equal(tg.code, 1);
  assert.match(tg.stdout + tg.stderr, /requires allowFrom to include/);
});

test("a spawn whose config the gateway refuses fails within seconds with the gateway's reason, and leaves no container or workspace", async (t) => {
  const started = Date.now();
  const broken = await client.spawn({
    module: moduleId,
    tags: [{ name: "dmPolicy", value: "sometimes" }],
  });
  // The gateway's own reason, not the 120 s health wait's timeout, is what proves the spawn failed
  // fast; the wait is generous because CI runs this beside QEMU guests (about 7 s on a quiet machine).
  const r = await client.waitResult(broken, broken, 60_000);
  t.diagnostic(`failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.match(
    r.Error,
    /the OpenClaw gateway exited during start \(code \d+\): OpenClaw config is invalid/,
  );
  assert.deepEqual(
    await docker.listContainers({ name: [`hymatrix_${broken}`] }),
    [],
    "no container is left",
  );
  assert.equal(existsSync(join(base, "sandbox_workspace", broken)), false, "nor its workspace");
});

// Spawns as users write them, started together (one gateway each) and checked one by one.
const OPENAI_KEY = `sk-proj-test-${Date.now()}`;
const ANTHROPIC_KEY = `sk-ant-test-${Date.now()}`;
const zenBot = new FakeTelegram(`${(Date.now() + 7) % 1e9}:zen-bot-token`);
after(() => zenBot.close());
/** The spawn of a process with these tags (and secrets); throws with the reason if it failed. */
async function spawned(tags: Record<string, string>, secrets: Record<string, string> = {}) {
  const id = await client.spawn({
    module: moduleId,
    tags: Object.entries(tags).map(([name, value]) => ({ name, value })),
    secrets,
  });
  const r = await client.waitResult(id, id, ANSWER_MS);
  assert.equal(r.Error, "", `${JSON.stringify(tags)}: ${r.Error}`);
  return id;
}

/** Runs jobs at most two at a time: the machines have two cores, and a gateway's start is CPU-bound. */
function twoAtATime() {
  let free = 2;
  const queue: (() => void)[] = [];
  return async <T>(job: () => Promise<T>): Promise<T> => {
    if (free > 0) free--;
    else await new Promise<void>((go) => queue.push(go));
    try {
      return await job();
    } finally {
      const next = queue.shift();
      if (next) next();
      else free++;
    }
  };
}

let users:
  | {
      readme: Promise<CliRun>;
      anthropic: Promise<string>;
      bare: Promise<CliRun>;
      kimi: Promise<string>;
      zen: Promise<string>;
    }
  | undefined;

/** Seconds each user spawn took from the start of its turn to its answer (for the report). */
const spawnSeconds: Record<string, string> = {};

/** Starts every user spawn on first use; each test awaits its own (one failure fails one test). */
function userSpawns() {
  if (users) return users;
  const two = twoAtATime();
  const slot = <T>(name: string, job: () => Promise<T>) =>
    two(async () => {
      const started = Date.now();
      try {
        return await job();
      } finally {
        spawnSeconds[name] = ((Date.now() - started) / 1000).toFixed(1);
      }
    });
  // The README's commands, verbatim; the node's URL and the client key come from the env.
  const env = { VMDOCKER_URL: running.url, VMDOCKER_KEY: CLIENT_KEY };
  users = {
    readme: slot("readme", () =>
      cli(
        [
          ...["openclaw", "spawn", "--module", moduleId, "--provider", "openai"],
          ...["--model", "gpt-4.1-mini", "--api-key", OPENAI_KEY],
        ],
        env,
      ),
    ),
    anthropic: slot("anthropic", () =>
      spawned(
        { provider: "anthropic", model: "claude-sonnet-4-5", providerBaseUrl: anthropic.url },
        { apiKey: ANTHROPIC_KEY },
      ),
    ),
    bare: slot("bare", () => cli(["openclaw", "spawn", "--module", moduleId], env)),
    // The upstream examples: a model alone, and a provider/model pair with Telegram settings.
    kimi: slot("kimi", () => spawned({ model: "kimi-coding/k2p5" })),
    zen: slot("zen", async () => {
      await zenBot.start(new URL(telegram.url).hostname);
      return spawned(
        { provider: "zen", model: "plan", apiRoot: zenBot.url, dmPolicy: "open", allowFrom: "*" },
        { botToken: zenBot.token },
      );
    }),
  };
  // Awaited by their tests; until then a failure must not count as unhandled.
  for (const p of Object.values(users)) (p as Promise<unknown>).catch(() => {});
  return users;
}

const stateOf = (id: string) => join(base, "sandbox_workspace", id, ".openclaw");
const configOf = (id: string) =>
  JSON.parse(readFileSync(join(stateOf(id), "openclaw.json"), "utf8")) as {
    agents: { defaults: { model?: { primary?: string } } };
    models: { providers: Record<string, { agentRuntime?: { id: string } }> };
  };
/**
 * What OpenClaw tried to fetch or install at run time: the image's npm refuses every call and
 * notes it (OpenClaw also asks `npm root -g` where npm keeps global packages; that is no fetch).
 */
const installTries = (id: string) => {
  const file = join(stateOf(id), "logs", "npm-refused.log");
  const calls = existsSync(file) ? readFileSync(file, "utf8").split("\n") : [];
  return calls.filter((l) => /npm (view|install|i|add|pack|update|ci)\b/.test(l)).join("\n");
};

/** Reports how long a user spawn took and every npm call its OpenClaw made (all refused). */
function report(t: TestContext, name: string, id: string): void {
  t.diagnostic(`spawn ${name}: ${spawnSeconds[name]} s`);
  const file = join(stateOf(id), "logs", "npm-refused.log");
  if (existsSync(file))
    for (const line of readFileSync(file, "utf8").trim().split("\n")) t.diagnostic(`npm: ${line}`);
}

async function pings(id: string) {
  const ping = await send(id, "Ping");
  assert.equal(ping.Error, "", ping.Error);
  assert.match(ping.Data, /"ok":\s*true/);
}

test("the README's example, verbatim (provider openai, a model, a key): the gateway comes up, answers Ping, and OpenClaw installs nothing", async (t) => {
  const readme = await userSpawns().readme;
  assert.equal(readme.code, 0, readme.stdout + readme.stderr);
  const id = readme.stdout.trim();
  report(t, "readme", id);
  assert.match(id, /^[A-Za-z0-9_-]{43}$/);
  await pings(id);
  const config = configOf(id);
  assert.equal(config.agents.defaults.model?.primary, "openai/gpt-4.1-mini");
  assert.equal(
    config.models.providers.openai?.agentRuntime?.id,
    "openclaw",
    "OpenAI on OpenClaw's own runtime, not the Codex plugin it would fetch",
  );
  assert.equal(installTries(id), "", "no install was attempted");
});

test("chat through the anthropic provider reaches its messages API with the key as Anthropic expects it", async (t) => {
  const id = await userSpawns().anthropic;
  report(t, "anthropic", id);
  const r = await send(id, "Chat", "hello claude");
  assert.equal(r.Error, "", r.Error);
  assert.match(r.Data, /^anthropic reply #\d+$/);
  const call = anthropic.chats().at(-1)!;
  assert.equal(call.path, "/v1/messages");
  assert.equal(call.headers["x-api-key"], ANTHROPIC_KEY, "the key in x-api-key");
  assert.ok(call.headers["anthropic-version"], "an anthropic-version header");
  assert.equal(call.headers.authorization, undefined, "no bearer token");
  assert.equal(call.body.model, "claude-sonnet-4-5");
  assert.ok(JSON.stringify(call.body.messages).includes("hello claude"));
  assert.equal(installTries(id), "");
});

test("a spawn with nothing at all: a gateway with no model answers Ping and takes ConfigureModel", async (t) => {
  const bare = await userSpawns().bare;
  assert.equal(bare.code, 0, bare.stdout + bare.stderr);
  const id = bare.stdout.trim();
  report(t, "bare", id);
  await pings(id);
  assert.equal(configOf(id).agents.defaults.model?.primary, undefined, "no model yet");
  const set = await send(id, "ConfigureModel", "", { model: "anthropic/claude-sonnet-4-5" });
  assert.equal(set.Error, "", set.Error);
  assert.equal(set.Data, "anthropic/claude-sonnet-4-5");
  assert.equal(configOf(id).agents.defaults.model?.primary, "anthropic/claude-sonnet-4-5");
  await pings(id);
  assert.equal(installTries(id), "");
});

test("upstream's model=kimi-coding/k2p5 alone: the gateway comes up with that model although the pinned OpenClaw lacks its provider plugin (npm refused, noted)", async (t) => {
  const id = await userSpawns().kimi;
  report(t, "kimi", id);
  await pings(id);
  assert.equal(configOf(id).agents.defaults.model?.primary, "kimi-coding/k2p5");
  assert.match(
    installTries(id),
    /npm view @openclaw\/kimi-provider/,
    "OpenClaw asked for the external Kimi plugin, and the image refused",
  );
  const chat = await send(id, "Chat", "hello kimi", { timeoutSeconds: "60" });
  assert.match(chat.Error, /the chat failed/, "a chat says why instead of hanging");
});

test("upstream's provider=zen model=plan with Telegram settings: the gateway comes up and its bot polls the Bot API", async (t) => {
  const id = await userSpawns().zen;
  report(t, "zen", id);
  await pings(id);
  const config = configOf(id) as ReturnType<typeof configOf> & {
    channels: { telegram: { dmPolicy: string; apiRoot: string } };
  };
  assert.equal(config.agents.defaults.model?.primary, "zen/plan");
  assert.equal(config.channels.telegram.dmPolicy, "open");
  assert.equal(config.channels.telegram.apiRoot, zenBot.url);
  const deadline = Date.now() + 60_000;
  while (!zenBot.calls.includes("getUpdates") && Date.now() < deadline)
    await new Promise((res) => setTimeout(res, 250));
  assert.ok(zenBot.calls.includes("getUpdates"), `the bot polls: ${zenBot.calls.join(",")}`);
  assert.equal(installTries(id), "");
});
