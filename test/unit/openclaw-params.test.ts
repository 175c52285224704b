import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  runSecurityAudit,
  securityAudit,
  type AuditProbes,
} from "../../src/runtimes/openclaw-audit.js";
import { openclawPaths, prepareOpenclaw } from "../../src/runtimes/openclaw-config.js";
import { Gateway, gatewayExitReason } from "../../src/runtimes/openclaw-gateway.js";
import {
  cliFailure,
  cliReason,
  normalizeAction,
  telegramPatch,
} from "../../src/runtimes/openclaw-runtime.js";

test("Telegram params become one config patch; open without * is refused with the fix", () => {
  assert.deepEqual(
    telegramPatch({
      botToken: " 1:abc ",
      dmPolicy: "open",
      allowFrom: '["*", "42"]',
      apiRoot: "http://tg",
    }),
    {
      channels: {
        telegram: {
          botToken: "1:abc",
          dmPolicy: "open",
          apiRoot: "http://tg",
          allowFrom: ["*", "42"],
        },
      },
    },
  );
  assert.deepEqual(telegramPatch({ allowFrom: "1, 2,," })?.channels.telegram.allowFrom, ["1", "2"]);
  assert.equal(telegramPatch({ provider: "openai" }), undefined, "no Telegram params, no patch");
  assert.throws(
    () => telegramPatch({ dmPolicy: "open", allowFrom: "42" }),
    /requires allowFrom to include "\*" \(pass allowFrom=\*\)/,
  );
});

test("an openclaw CLI failure is reported by its Reason line, not its help hint", () => {
  const out = [
    "[openclaw] The CLI command failed.",
    '[openclaw] Reason: No pending pairing request found for code "X".',
    "[openclaw] Help: openclaw --help",
  ].join("\n");
  assert.equal(cliReason(out), 'No pending pairing request found for code "X".');
  assert.equal(cliReason("plain failure\nlast line"), "last line");
});

test("action aliases resolve as upstream's", () => {
  const meta = (Action: string) => ({ Action }) as never;
  assert.equal(normalizeAction(meta("approvetelegrampairing"), {}), "ApprovePairing");
  assert.equal(normalizeAction(meta(""), { action: "SetTelegram" }), "ConfigureTelegram");
  assert.equal(normalizeAction(meta(""), {}), "Query");
  assert.equal(normalizeAction(meta("Dance"), {}), "Dance");
});

test("the start-up security audit: working sudo is fatal, a mounted engine socket and virtiofs warn", () => {
  const probes = (over: Partial<AuditProbes>): AuditProbes => ({
    sudoWorks: () => false,
    isSocket: () => false,
    fsType: () => 0xef53,
    read: (p) => (p.includes("apparmor") ? "Y" : undefined),
    ...over,
  });
  assert.deepEqual(securityAudit("/ws", probes({})), [
    { level: "info", message: "AppArmor is enabled" },
  ]);
  const risky = securityAudit(
    "/ws",
    probes({ isSocket: (p) => p === "/var/run/docker.sock", fsType: () => 0x6a656a63 }),
  );
  assert.deepEqual(
    risky.filter((f) => f.level === "warn").map((f) => f.message),
    [
      "/var/run/docker.sock is mounted: that is root on the host",
      "the workspace /ws is on virtiofs",
    ],
  );
  assert.throws(
    () => runSecurityAudit("/ws", probes({ sudoWorks: () => true })),
    /security audit failed: passwordless sudo works in this container/,
  );
});

/** The parts of openclaw.json these tests read. */
interface OpenclawJson {
  agents: { defaults: { model?: { primary?: string } } };
  update: { checkOnStart: boolean };
  models: {
    catalogRefresh: { enabled: boolean };
    providers: Record<
      string,
      { agentRuntime?: { id: string }; api?: string; baseUrl?: string; models?: { id: string }[] }
    >;
  };
}

test("the config a spawn starts with: no model unless one is given, nothing that reaches out, a user's own choice kept", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-openclaw-config-"));
  const paths = openclawPaths({ OPENCLAW_STATE_DIR: join(dir, ".openclaw") });
  try {
    const bare = prepareOpenclaw(paths) as unknown as OpenclawJson;
    assert.equal(
      bare.agents.defaults.model,
      undefined,
      "no default model: ready for ConfigureModel",
    );
    assert.equal(bare.update.checkOnStart, false);
    assert.equal(bare.models.catalogRefresh.enabled, false);
    assert.deepEqual(bare.models.providers.openai, { agentRuntime: { id: "openclaw" } });

    writeFileSync(
      paths.config,
      JSON.stringify({
        update: { checkOnStart: true },
        models: { providers: { openai: { agentRuntime: { id: "codex" } } } },
      }),
    );
    const own = prepareOpenclaw(paths, {
      provider: "Anthropic",
      model: "claude-x",
      providerBaseUrl: "http://127.0.0.1:9/anthropic",
    }) as unknown as OpenclawJson;
    assert.equal(own.update.checkOnStart, true, "a user's own setting stays");
    assert.equal(own.models.providers.openai?.agentRuntime?.id, "codex");
    assert.equal(own.agents.defaults.model?.primary, "anthropic/claude-x");
    assert.equal(
      own.models.providers.anthropic?.api,
      "anthropic-messages",
      "Anthropic's own API at its base URL",
    );
    assert.equal(own.models.providers.anthropic?.baseUrl, "http://127.0.0.1:9/anthropic");

    const custom = prepareOpenclaw(paths, {
      provider: "zen",
      model: "plan",
      providerBaseUrl: "http://h/v1",
    }) as unknown as OpenclawJson;
    assert.equal(
      custom.models.providers.zen?.api,
      "openai-completions",
      "others: OpenAI-compatible",
    );
    assert.deepEqual(
      custom.models.providers.zen!.models!.map((m) => m.id),
      ["plan"],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a gateway that stops during start is reported by its own failure line, without decoration", () => {
  assert.equal(
    gatewayExitReason([
      "2026-11-30T03:02:45.095+00:00 [gateway] loading configuration…",
      '\u001b[31mOpenClaw config is invalid; run "openclaw doctor --fix" before startup.\u001b[39m',
      "",
    ]),
    'OpenClaw config is invalid; run "openclaw doctor --fix" before startup.',
  );
  assert.equal(
    gatewayExitReason([
      "Gateway failed to start: OpenClaw startup migrations did not complete cleanly; refusing to report the gateway ready.",
      '- Migration step "x" was not run because prior step "y" refused execution.',
      "Failing check z (blocked-by-prior-refusal): not run",
    ]),
    "Gateway failed to start: OpenClaw startup migrations did not complete cleanly; refusing to report the gateway ready.",
    "OpenClaw's own summary line wins over the details after it",
  );
  assert.equal(gatewayExitReason(["│  ◇ all quiet", "bye"]), "bye");
  assert.equal(gatewayExitReason([]), "it printed nothing");
  assert.equal(gatewayExitReason([`error: ${"x".repeat(900)}`]).length, 600);
});

test("an openclaw CLI command that outlives its time is killed, and the failure says so with its last line", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-oc-cli-"));
  try {
    // A CLI that reports what it saved and then never exits (the shape of a key store under load).
    const bin = join(dir, "slow-cli.mjs");
    writeFileSync(
      bin,
      'console.log("Auth profile: anthropic:manual"); setInterval(() => {}, 1000);\n',
    );
    const gw = new Gateway(openclawPaths({ OPENCLAW_STATE_DIR: dir }), bin, 1);
    const started = Date.now();
    // Long enough for Node to start and print its line on a loaded machine.
    const res = await gw.cli(["models", "auth", "paste-api-key"], "sk-ant-x\n", 5000);
    assert.ok(Date.now() - started < 30_000, "killed at its time, not left running");
    assert.equal(res.timedOutMs, 5000);
    assert.notEqual(res.code, 0);
    assert.equal(
      cliFailure(res),
      "it did not finish in 5 s (its last line: Auth profile: anthropic:manual)",
    );
    // One that exits on its own is judged by its exit code and its own reason.
    writeFileSync(bin, 'console.error("[openclaw] Reason: bad key"); process.exit(3);\n');
    const failed = await gw.cli(["models"], undefined, 60_000);
    assert.deepEqual(failed, { code: 3, out: "[openclaw] Reason: bad key\n" });
    assert.equal(cliFailure(failed), "bad key");
    assert.equal(cliFailure({ code: 2, out: "" }), "it exited with code 2 and printed nothing");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
