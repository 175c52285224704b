import type { Command } from "commander";
import { VmdError } from "../../errors.js";
import type { Tag } from "../../protocol/tags.js";
import type { CliContext } from "../context.js";
import { printJson } from "../output.js";
import { clientFor, printResult, printSpawned, withClientOptions, type Common } from "./client.js";

const tags = (m: Record<string, string | undefined>): Tag[] =>
  Object.entries(m)
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([name, value]) => ({ name, value: value! }));

interface TelegramFlags {
  botToken?: string;
  dmPolicy?: string;
  allowFrom?: string;
  apiRoot?: string;
}

function withTelegramOptions(cmd: Command): Command {
  return cmd
    .option("--bot-token <t>", "the bot's token from @BotFather (telegram: env TELEGRAM_BOT_TOKEN)")
    .option("--dm-policy <p>", "pairing | allowlist | open | disabled")
    .option("--allow-from <ids>", "comma-separated sender ids, or * (open needs *)")
    .option("--api-root <url>", "a self-hosted Telegram Bot API server (default api.telegram.org)");
}

/** Telegram settings as tags, and the bot token as a secret (encrypted for the node). */
function telegramTags(
  o: TelegramFlags,
  tokenFromEnv = true,
): { tags: Tag[]; secrets: Record<string, string> } {
  const botToken = o.botToken ?? (tokenFromEnv ? process.env.TELEGRAM_BOT_TOKEN : undefined);
  return {
    tags: tags({ dmPolicy: o.dmPolicy, allowFrom: o.allowFrom, apiRoot: o.apiRoot }),
    secrets: botToken ? { botToken } : {},
  };
}

/** The seed's OpenClaw flows: spawn with a model and key, chat, Telegram, pairing. Secrets are sent encrypted. */
export function registerOpenclaw(program: Command, ctx: () => CliContext): void {
  const oc = program
    .command("openclaw")
    .description("OpenClaw bots as VMDocker processes (spawn, chat, telegram, pair)");

  withTelegramOptions(withClientOptions(oc.command("spawn")))
    .description(
      "spawn an OpenClaw process, optionally with a model, an API key (sent encrypted to the node) and Telegram settings; without a model the gateway waits for ConfigureModel",
    )
    .requiredOption("--module <id>", "the OpenClaw module (vmdocker module build --openclaw)")
    .option(
      "--provider <p>",
      "the model provider (openai, anthropic, or a name of your own with --base-url)",
    )
    .option("--model <m>", "the model id, or provider/model")
    .option(
      "--api-key <k>",
      "the provider's API key (encrypted for the node; env OPENCLAW_API_KEY)",
    )
    .option(
      "--base-url <url>",
      "another endpoint for --provider: Anthropic's messages API for anthropic, else OpenAI-compatible chat completions (vLLM, LM Studio...)",
    )
    .option(
      "--allowed-senders <list>",
      "who besides you may chat with it: comma-separated addresses or process ids, or * for anyone",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  vmdocker openclaw spawn --module <id> --provider openai --model gpt-4.1-mini --api-key $OPENAI_API_KEY\n  vmdocker openclaw spawn --module <id>",
    )
    .action(
      async (
        o: Common &
          TelegramFlags & {
            module: string;
            provider?: string;
            model?: string;
            apiKey?: string;
            baseUrl?: string;
            allowedSenders?: string;
          },
      ) => {
        const c = clientFor(ctx, o);
        const apiKey = o.apiKey ?? process.env.OPENCLAW_API_KEY;
        if (apiKey && !o.provider && !o.model?.includes("/"))
          throw new VmdError(
            "err_bad_flag",
            "--api-key needs --provider (or a provider/model)",
            "pass --provider openai",
          );
        // Telegram flags take effect before the gateway first starts (OpenClaw's spawn tags).
        const telegram = telegramTags(o, false);
        const pid = await c.spawn({
          module: o.module,
          tags: [
            ...tags({
              provider: o.provider,
              model: o.model,
              providerBaseUrl: o.baseUrl,
              "Allowed-Senders": o.allowedSenders,
            }),
            ...telegram.tags,
          ],
          secrets: { ...(apiKey ? { apiKey } : {}), ...telegram.secrets },
        });
        printSpawned(pid, await c.waitResult(pid, pid, 600_000), o.json);
      },
    );

  withClientOptions(oc.command("chat <pid> <message>"))
    .description("send a chat message and print the bot's reply")
    .option("--timeout <seconds>", "how long the agent may take (default 600)")
    .addHelpText("after", '\nExample:\n  vmdocker openclaw chat <pid> "hello"')
    .action(async (pid: string, message: string, o: Common & { timeout?: string }) => {
      const c = clientFor(ctx, o);
      const id = await c.message({
        pid,
        action: "Chat",
        data: message,
        tags: tags({ timeoutSeconds: o.timeout }),
      });
      const r = await c.waitResult(pid, id, 900_000);
      if (o.json) printJson(r);
      else if (r.Error) console.error(`chat failed: ${r.Error}`);
      else console.log(r.Data);
      if (r.Error) process.exitCode = 1;
    });

  withTelegramOptions(withClientOptions(oc.command("telegram <pid>")))
    .description("configure the Telegram channel (the bot token is sent encrypted)")
    .addHelpText(
      "after",
      "\nExample:\n  vmdocker openclaw telegram <pid> --bot-token $TELEGRAM_BOT_TOKEN --dm-policy open --allow-from '*'",
    )
    .action(async (pid: string, o: Common & TelegramFlags) => {
      const c = clientFor(ctx, o);
      const id = await c.message({ pid, action: "ConfigureTelegram", ...telegramTags(o) });
      const r = await c.waitResult(pid, id, 300_000);
      printResult(r, o.json);
      if (r.Error) process.exitCode = 1;
    });

  withClientOptions(oc.command("pair <pid> <code>"))
    .description("approve a pairing code a new sender got from the bot")
    .option("--channel <c>", "the channel", "telegram")
    .addHelpText("after", "\nExample:\n  vmdocker openclaw pair <pid> ABC123")
    .action(async (pid: string, code: string, o: Common & { channel: string }) => {
      const c = clientFor(ctx, o);
      const id = await c.message({
        pid,
        action: "ApprovePairing",
        tags: tags({ code, channel: o.channel }),
      });
      const r = await c.waitResult(pid, id, 300_000);
      printResult(r, o.json);
      if (r.Error) process.exitCode = 1;
    });
}
