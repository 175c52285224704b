import { createServer, type IncomingMessage, type Server } from "node:http";

// Telegram cannot be reached from here, so tests talk to this Bot API server instead: the real
// wire protocol (`/bot<token>/<method>`, JSON or form bodies, `{ok, result}` answers, long-polled
// getUpdates) for the methods a bot gateway calls. Users are simulated with `userSays`.

export interface SentMessage {
  chatId: string;
  text: string;
}

interface Update {
  update_id: number;
  message: Record<string, unknown>;
}

const BOT = {
  id: 777000001,
  is_bot: true,
  first_name: "VMDocker test bot",
  username: "vmd_test_bot",
};

async function bodyOf(req: IncomingMessage): Promise<Record<string, unknown>> {
  let raw = "";
  for await (const chunk of req) raw += (chunk as Buffer).toString();
  const type = req.headers["content-type"] ?? "";
  if (!raw) return {};
  if (type.includes("json")) return JSON.parse(raw) as Record<string, unknown>;
  if (type.includes("x-www-form-urlencoded")) return Object.fromEntries(new URLSearchParams(raw));
  if (type.includes("multipart/form-data")) {
    const out: Record<string, unknown> = {};
    for (const m of raw.matchAll(/name="([^"]+)"\r\n\r\n([\s\S]*?)\r\n--/g)) out[m[1]!] = m[2];
    return out;
  }
  return {};
}

export class FakeTelegram {
  readonly sent: SentMessage[] = [];
  readonly calls: string[] = [];
  private readonly updates: Update[] = [];
  private nextUpdate = 1;
  private nextMessage = 1;
  private waiters: (() => void)[] = [];
  private sentWaiters: (() => void)[] = [];
  private server?: Server;
  url = "";

  constructor(readonly token: string) {}

  async start(host: string): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        (result) => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true, result }));
        },
        (err: Error & { code?: number }) => {
          res.writeHead(err.code ?? 400, { "content-type": "application/json" });
          res.end(
            JSON.stringify({ ok: false, error_code: err.code ?? 400, description: err.message }),
          );
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    const { port } = this.server.address() as { port: number };
    this.url = `http://${host}:${port}`;
    return this.url;
  }

  close(): void {
    for (const w of this.waiters.splice(0)) w();
    this.server?.closeAllConnections();
    this.server?.close();
  }

  /** A private message from a user to the bot, delivered on the bot's next getUpdates. */
  userSays(userId: number, text: string): void {
    const from = { id: userId, is_bot: false, first_name: "Ada", username: `ada${userId}` };
    this.updates.push({
      update_id: this.nextUpdate++,
      message: {
        message_id: this.nextMessage++,
        date: Math.floor(Date.now() / 1000),
        chat: { id: userId, type: "private", first_name: "Ada", username: from.username },
        from,
        text,
      },
    });
    for (const w of this.waiters.splice(0)) w();
  }

  /** Waits for the bot to send a message to `chatId` that matches `pattern`. */
  async waitForSent(chatId: number, pattern: RegExp, timeoutMs: number): Promise<SentMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.sent.find((m) => m.chatId === String(chatId) && pattern.test(m.text));
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `the bot sent nothing matching ${pattern} to ${chatId} in ${timeoutMs} ms; sent: ${JSON.stringify(this.sent)}; calls: ${this.calls.slice(-20).join(",")}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.sentWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  private async handle(req: IncomingMessage): Promise<unknown> {
    const m = /^\/bot([^/]+)\/([A-Za-z]+)/.exec(req.url ?? "");
    if (!m) throw Object.assign(new Error("Not Found"), { code: 404 });
    if (m[1] !== this.token) throw Object.assign(new Error("Unauthorized"), { code: 401 });
    const method = m[2]!;
    const body = await bodyOf(req);
    this.calls.push(method);
    switch (method) {
      case "getMe":
        return { ...BOT, can_join_groups: true, can_read_all_group_messages: false };
      case "getUpdates":
        return this.poll(Number(body.offset ?? 0), Number(body.timeout ?? 0));
      case "sendMessage": {
        const text = String(body.text ?? "");
        this.sent.push({ chatId: String(body.chat_id), text });
        for (const w of this.sentWaiters.splice(0)) w();
        return {
          message_id: this.nextMessage++,
          date: Math.floor(Date.now() / 1000),
          chat: { id: Number(body.chat_id), type: "private" },
          from: BOT,
          text,
        };
      }
      case "getMyCommands":
        return [];
      case "getWebhookInfo":
        return { url: "", has_custom_certificate: false, pending_update_count: 0 };
      default:
        // setMyCommands, deleteWebhook, sendChatAction, setMessageReaction...: acknowledged.
        return true;
    }
  }

  private async poll(offset: number, timeoutSeconds: number): Promise<Update[]> {
    // An offset confirms every update before it, as in the Bot API.
    while (this.updates.length && this.updates[0]!.update_id < offset) this.updates.shift();
    if (!this.updates.length && timeoutSeconds > 0)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(timeoutSeconds, 5) * 1000);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    return this.updates.slice(0, 100);
  }
}
