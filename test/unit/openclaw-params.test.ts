import assert from "node:assert/strict";
import { test } from "node:test";
import {
  runSecurityAudit,
  securityAudit,
  type AuditProbes,
} from "../../src/runtimes/openclaw-audit.js";
import { cliReason, normalizeAction, telegramPatch } from "../../src/runtimes/openclaw-runtime.js";

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
