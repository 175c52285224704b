#!/usr/bin/env node
// vm-setup: creates a microVM bot (seed fireclaw-vm-demo, "Setup" and "Options"). Thin: parses,
// calls src/microvm/setup.ts, prints.
import { Command, CommanderError, Option } from "commander";
import { microvmEnv } from "../microvm/env.js";
import { DEFAULTS, type RawSetupOptions } from "../microvm/flags.js";
import { setupInstance } from "../microvm/setup.js";
import { formatError, printJson } from "./output.js";
import { terminalProgress } from "./progress.js";
import { exitQuietlyOnClosedPipe, hideSecretsFromPs, positiveSeconds } from "./vm-common.js";

hideSecretsFromPs("vm-setup");
exitQuietlyOnClosedPipe();

const program = new Command("vm-setup")
  .description(
    "Create an OpenClaw bot in its own microVM: disk, seed, network, boot, provisioning, localhost proxy",
  )
  .option("--instance <id>", "instance id ([a-z0-9_-]+; required)")
  .addOption(
    new Option("--telegram-token <token>", "Telegram bot token (required)").env(
      "TELEGRAM_BOT_TOKEN",
    ),
  )
  .option("--telegram-users <ids>", "comma-separated Telegram user ids for the allow list")
  .option("--model <id>", "model id (provider/model)", DEFAULTS.model)
  .option("--skills <list>", "comma-separated bundled skills", DEFAULTS.skills)
  .option(
    "--openclaw-image <ref>",
    "OpenClaw release for the guest: openclaw@<version> or ghcr.io/openclaw/openclaw:<version>",
    DEFAULTS.openclawImage,
  )
  .option("--vm-vcpu <n>", "vCPUs per VM", String(DEFAULTS.vcpu))
  .option("--vm-mem-mib <n>", "memory per VM (MiB)", String(DEFAULTS.memMib))
  .addOption(new Option("--anthropic-api-key <key>", "Anthropic API key").env("ANTHROPIC_API_KEY"))
  .addOption(new Option("--openai-api-key <key>", "OpenAI API key").env("OPENAI_API_KEY"))
  .addOption(new Option("--minimax-api-key <key>", "MiniMax API key").env("MINIMAX_API_KEY"))
  .option("--skip-browser-install", "no Chromium for the browser tools (smaller image)", false)
  .addOption(
    new Option(
      "--network <mode>",
      "bridge (TAP on BRIDGE_NAME, root) or user (QEMU user network, no root)",
    )
      .choices(["bridge", "user"])
      .default("bridge"),
  )
  .addOption(
    new Option("--vmm <vmm>", "which VMM").choices(["auto", "qemu", "firecracker"]).default("auto"),
  )
  .addOption(
    new Option("--accel <accel>", "QEMU accelerator")
      .choices(["auto", "kvm", "tcg"])
      .default("auto"),
  )
  .option(
    "--host-port <port>",
    "the proxy's port on 127.0.0.1 (default: the next free from BASE_PORT)",
  )
  .option(
    "--base-kernel <file>",
    "your own uncompressed kernel (default: $BASE_IMAGES_DIR/vmlinux, else built)",
  )
  .option(
    "--base-rootfs <file>",
    "your own ext4 root filesystem (default: $BASE_IMAGES_DIR/rootfs.ext4, else built)",
  )
  .option(
    "--base-initrd <file>",
    "your own initrd (default: $BASE_IMAGES_DIR/initrd.img, else built)",
  )
  .addOption(
    new Option("--telegram-api-root <url>", "a self-hosted Telegram Bot API server").env(
      "TELEGRAM_API_ROOT",
    ),
  )
  .option("--provider-base-url <url>", "an OpenAI-compatible endpoint for the model's provider")
  .option(
    "--timeout <seconds>",
    "limit for boot and for provisioning, each (default 300 with KVM, 2400 emulated)",
  )
  .option("--keep-on-failure", "leave a failed instance in place for inspection (no rollback)")
  .option("--json", "print the instance as JSON")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride()
  .addHelpText(
    "after",
    `
Secrets: prefer the variables TELEGRAM_BOT_TOKEN, ANTHROPIC_API_KEY, OPENAI_API_KEY, MINIMAX_API_KEY
over flags; the gateway token is printed only by \`vm-ctl token <id>\`.
Environment: STATE_ROOT FC_ROOT BASE_PORT BRIDGE_NAME BRIDGE_ADDR SUBNET_CIDR SSH_KEY_PATH BASE_IMAGES_DIR

Example:
  sudo TELEGRAM_BOT_TOKEN=123:abc ANTHROPIC_API_KEY=sk-... vm-setup --instance my-bot \\
    --telegram-users 123456789 --model anthropic/claude-opus-4-6
  TELEGRAM_BOT_TOKEN=123:abc OPENAI_API_KEY=sk-... vm-setup --instance dev --network user \\
    --skip-browser-install --model openai/gpt-5`,
  );

try {
  program.parse(process.argv);
  const o = program.opts<
    RawSetupOptions & { json?: boolean; timeout?: string; keepOnFailure?: boolean }
  >();
  const env = microvmEnv();
  const r = await setupInstance(
    env,
    o,
    terminalProgress(),
    o.timeout === undefined ? null : positiveSeconds("--timeout", o.timeout),
    !!o.keepOnFailure,
  );
  for (const w of r.warnings) console.error(`vm-setup: warning: ${w}`);
  const rec = r.record;
  if (o.json) printJson({ ...rec, why: r.why, seconds: r.seconds });
  else
    console.log(
      [
        `instance   ${rec.id}`,
        `vmm        ${rec.vmm} (${rec.accel}): ${r.why}`,
        `network    ${rec.network}${rec.network === "bridge" ? ` ${rec.guestIp} on ${env.bridgeName}, TAP ${rec.tapName}` : ` (SSH on 127.0.0.1:${rec.sshPort})`}`,
        `gateway    http://127.0.0.1:${rec.hostPort}  (curl -fsS http://127.0.0.1:${rec.hostPort}/health)`,
        `token      vm-ctl token ${rec.id}`,
        `model      ${rec.model}`,
        `took       ${r.seconds.total.toFixed(0)} s (images ${r.seconds.images.toFixed(0)} s, boot ${r.seconds.boot.toFixed(0)} s, provisioning ${r.seconds.provision.toFixed(0)} s)`,
      ].join("\n"),
    );
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode;
  else {
    console.error(formatError(err, "vm-setup"));
    process.exitCode = 1;
  }
}
