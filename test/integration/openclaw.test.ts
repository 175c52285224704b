import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import { HymxClient } from "../../src/client/client.js";
import { buildModule } from "../../src/module/build.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { OPENCLAW_VERSION } from "../../src/runtime/images/sources.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { admin as callAdmin } from "../helpers/admin.js";
import { testClient } from "../helpers/engine.js";
import { FakeLlm } from "../helpers/fake-llm.js";
import { FakeTelegram } from "../helpers/fake-telegram.js";
import { filesHolding } from "../helpers/secrets.js";

// OpenClaw for real in a VMDocker process: the pinned gateway in its container, a chat flowing
// client → node → container → OpenClaw → provider and back. No LLM provider is reachable from
// here, so the provider is this test's own OpenAI-compatible HTTP server on the Docker bridge.
const docker = testClient();
const base = mkdtempSync(join(tmpdir(), "vmd-openclaw-"));
const API_KEY = `sk-test-${Date.now()}`;
const BOT_TOKEN = `${Date.now() % 1e9}:bot-secret-token`;
const telegram = new FakeTelegram(BOT_TOKEN);
let running: RunningNode;
let client: HymxClient;
let moduleId: string;
let providerURL: string;
const provider = new FakeLlm();
const seen = provider.calls;

before(async () => {
  const gateway = await docker.networkGateway("bridge");
  providerURL = await provider.start(gateway ?? "127.0.0.1");
  await telegram.start(gateway ?? "127.0.0.1");
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
});

after(async () => {
  await running?.close();
  provider.close();
  telegram.close();
});

async function send(pid: string, action: string, data = "", tags: Record<string, string> = {}) {
  const id = await client.message({
    pid,
    action,
    data,
    tags: Object.entries(tags).map(([name, value]) => ({ name, value })),
  });
  return client.waitResult(pid, id, 300_000);
}

let pid: string;

test("cold start from module data, with provider, model, Telegram and an encrypted key and bot token: the image is loaded, the gateway is up, the secrets are in OpenClaw's store and nowhere in the node's items", async () => {
  pid = await client.spawn({
    module: moduleId,
    tags: [
      { name: "provider", value: "fake" },
      { name: "model", value: "fake-model" },
      { name: "providerBaseUrl", value: providerURL },
      { name: "apiRoot", value: telegram.url },
      { name: "dmPolicy", value: "pairing" },
    ],
    secrets: { apiKey: API_KEY, botToken: BOT_TOKEN },
  });
  const spawned = await client.waitResult(pid, pid, 300_000);
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
    "fake/fake-model",
    "the spawn-time model is set",
  );
  for (const secret of [API_KEY, BOT_TOKEN])
    assert.deepEqual(
      filesHolding(base, secret, (f) => f.includes("sandbox_workspace")),
      [],
      "no stored item, result or checkpoint of the node holds the key or the bot token",
    );
});

test("chat: the provider's reply comes back bare as Data, the key reached the provider", async () => {
  const r = await send(pid, "Chat", "hello there");
  assert.equal(r.Error, "", r.Error);
  assert.match(r.Data, /^fake reply #\d+$/, "the bare reply, no JSON around it");
  const call = seen.at(-1)!;
  assert.ok(
    JSON.stringify(call.messages).includes("hello there"),
    "the message reached the provider",
  );
  assert.equal(call.auth, `Bearer ${API_KEY}`, "OpenClaw authenticated with the stored key");
  assert.equal(call.model, "fake-model");
  assert.deepEqual((r.Output as { action: string }).action, "Chat");
  const tags = Object.fromEntries(r.Messages![0]!.Tags!.map((t) => [t.name, t.value]));
  assert.equal(tags.Reply, r.Data, "upstream's Reply tag");
  assert.equal(tags.GatewayStatus, "200 OK");
  assert.equal(tags.Runtime, "openclaw");
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
  const before = seen.length;
  telegram.userSays(stranger, "now can we talk?");
  const reply = await telegram.waitForSent(stranger, /^fake reply #\d+$/, 120_000);
  assert.equal(
    reply.text,
    `fake reply #${before + 1}`,
    "the provider's answer went back over Telegram",
  );
  assert.ok(JSON.stringify(seen.at(-1)!.messages).includes("now can we talk?"));
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
  const call = seen.at(-1)!;
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
      { name: "providerBaseUrl", value: providerURL },
      { name: "Checkpoint-Kind", value: "criu" },
      { name: "apiRoot", value: bot.url },
      { name: "dmPolicy", value: "open" },
      { name: "allowFrom", value: "*" },
    ],
    secrets: { apiKey: API_KEY, botToken: bot.token },
  });
  const spawned = await client.waitResult(criuPid, criuPid, 300_000);
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
  const r = await send(criuPid, "Chat", "what was the password?");
  assert.equal(r.Error, "", r.Error);
  assert.match(r.Data, /^fake reply #\d+$/);
  const call = seen.at(-1)!;
  assert.equal(call.auth, `Bearer ${API_KEY}`, "the key survived");
  assert.ok(JSON.stringify(call.messages).includes("swordfish"), "the session's history survived");
  // The bot's long poll was an open connection at the dump: it came back closed and reconnected.
  bot.userSays(5151, "are you back?");
  const answer = await bot.waitForSent(5151, /^fake reply #\d+$/, 120_000);
  assert.ok(answer, "an open-policy DM after the restore is answered by the agent");
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // Asynchronous: the node runs in this process and must keep serving while the CLI waits.
  const bin = fileURLToPath(new URL("../../src/cli/vmdocker.js", import.meta.url));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

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
