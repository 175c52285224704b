import { createServer, type IncomingHttpHeaders, type Server } from "node:http";

// No LLM provider can be reached from here, so tests run these instead: HTTP servers speaking the
// providers' real wire APIs (OpenAI chat completions, Anthropic messages), streamed and not, that
// record every request (path, headers, body) and answer `<name> reply #<n>`.

export interface ProviderCall {
  path: string;
  headers: IncomingHttpHeaders;
  body: { model?: string; stream?: boolean; messages?: unknown[]; system?: unknown };
}

export type ProviderApi = "openai-chat" | "anthropic-messages";

const sse = (event: string | undefined, data: object) =>
  `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;

/** OpenAI's POST /v1/chat/completions: a chat.completion, or chat.completion.chunk events and [DONE]. */
function openaiAnswer(body: ProviderCall["body"], reply: string, stream: boolean): string {
  const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
  const base = { id: "chatcmpl-1", created: 1, model: body.model };
  if (!stream)
    return JSON.stringify({
      ...base,
      object: "chat.completion",
      choices: [
        { index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" },
      ],
      usage,
    });
  const chunk = (delta: object, finish: string | null) =>
    sse(undefined, {
      ...base,
      object: "chat.completion.chunk",
      choices: [{ index: 0, delta, finish_reason: finish }],
      ...(finish ? { usage } : {}),
    });
  return `${chunk({ role: "assistant", content: reply }, null)}${chunk({}, "stop")}data: [DONE]\n\n`;
}

/** Anthropic's POST /v1/messages: a message, or its server-sent event sequence. */
function anthropicAnswer(body: ProviderCall["body"], reply: string, stream: boolean): string {
  const message = {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: body.model,
    stop_sequence: null,
  };
  if (!stream)
    return JSON.stringify({
      ...message,
      content: [{ type: "text", text: reply }],
      stop_reason: "end_turn",
      usage: { input_tokens: 1, output_tokens: 1 },
    });
  return [
    sse("message_start", {
      type: "message_start",
      message: {
        ...message,
        content: [],
        stop_reason: null,
        usage: { input_tokens: 1, output_tokens: 0 },
      },
    }),
    sse("content_block_start", {
      type: "content_block_start",
      index: 0,
      content_block: { type: "text", text: "" },
    }),
    sse("content_block_delta", {
      type: "content_block_delta",
      index: 0,
      delta: { type: "text_delta", text: reply },
    }),
    sse("content_block_stop", { type: "content_block_stop", index: 0 }),
    sse("message_delta", {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 1 },
    }),
    sse("message_stop", { type: "message_stop" }),
  ].join("");
}

/** A local stand-in for an LLM provider, on the host address containers reach (the bridge's gateway). */
export class FakeLlm {
  readonly calls: ProviderCall[] = [];
  private server?: Server;
  /** The base URL a provider config points at (OpenAI's includes /v1; Anthropic's SDK adds it). */
  url = "";

  constructor(
    readonly api: ProviderApi,
    readonly name = "fake",
  ) {}

  /** Chat requests only (what the model answered), not other calls a client may make. */
  chats(): ProviderCall[] {
    const end = this.api === "openai-chat" ? "/chat/completions" : "/messages";
    return this.calls.filter((c) => c.path.endsWith(end));
  }

  start(host: string): Promise<string> {
    this.server = createServer((req, res) => {
      let raw = "";
      req.on("data", (c: Buffer) => (raw += c.toString()));
      req.on("end", () => {
        let body: ProviderCall["body"] = {};
        try {
          body = JSON.parse(raw || "{}") as ProviderCall["body"];
        } catch {
          // recorded as an empty body
        }
        const path = new URL(req.url ?? "/", "http://x").pathname;
        this.calls.push({ path, headers: req.headers, body });
        const chat = this.api === "openai-chat" ? "/chat/completions" : "/messages";
        if (req.method !== "POST" || !path.endsWith(chat)) {
          res.writeHead(404, { "content-type": "application/json" });
          return res.end(JSON.stringify({ error: { message: `no route ${path}` } }));
        }
        const reply = `${this.name} reply #${this.chats().length}`;
        const stream = body.stream === true;
        const answer = this.api === "openai-chat" ? openaiAnswer : anthropicAnswer;
        res.writeHead(200, {
          "content-type": stream ? "text/event-stream" : "application/json",
        });
        res.end(answer(body, reply, stream));
      });
    });
    return new Promise((resolve) =>
      this.server!.listen(0, host, () => {
        const port = (this.server!.address() as { port: number }).port;
        this.url = `http://${host}:${port}${this.api === "openai-chat" ? "/v1" : ""}`;
        resolve(this.url);
      }),
    );
  }

  close(): void {
    this.server?.close();
  }
}
