// The "internet" of the microVM tests, run inside the world network namespace: a plain HTTP
// server, the fake LLM provider and the local Telegram Bot API server, all on the world's address.
// It reports their URLs over IPC and answers {type: "calls"} with what each has seen, and
// {type: "say", user, text} by making a Telegram user write to the bot. The bot token comes in
// VMTEST_BOT_TOKEN, never on a command line (the tests scan every command line for it).
import { createServer } from "node:http";
import { FakeLlm } from "./fake-llm.js";
import { FakeTelegram } from "./fake-telegram.js";

const [host = "10.250.0.1"] = process.argv.slice(2);
const botToken = process.env.VMTEST_BOT_TOKEN ?? "1:none";
const plain = createServer((_req, res) => res.end("world-ok"));
await new Promise<void>((resolve) => plain.listen(0, host, resolve));
const llm = new FakeLlm("openai-chat");
await llm.start(host);
const telegram = new FakeTelegram(botToken);
await telegram.start(host);
const send = (m: unknown) => process.send?.(m);
send({
  type: "ready",
  plain: `http://${host}:${(plain.address() as { port: number }).port}/`,
  llm: llm.url,
  telegram: telegram.url,
});
process.on("message", (m: { type: string; user?: number; text?: string }) => {
  if (m.type === "calls")
    send({
      type: "calls",
      llm: llm.chats().map((c) => ({
        auth: c.headers.authorization,
        model: c.body.model,
        messages: c.body.messages ?? [],
      })),
      telegram: telegram.calls,
      sent: telegram.sent,
    });
  if (m.type === "say") telegram.userSays(m.user!, m.text!);
  if (m.type === "exit") process.exit(0);
});
process.on("disconnect", () => process.exit(0));
