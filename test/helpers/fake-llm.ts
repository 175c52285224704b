// An LLM provider cannot be reached from here, so tests talk to this server instead: the OpenAI
// chat-completions protocol (JSON, or server-sent events with `stream: true`), answering
// "fake reply #<n>" and recording what each request carried.
import { createServer, type Server } from "node:http";

export interface ProviderCall {
  auth: string | undefined;
  model: string | undefined;
  messages: { role: string; content: unknown }[];
}

export class FakeLlm {
  readonly calls: ProviderCall[] = [];
  private server?: Server;
  url = "";

  /** Listens on `host` (port picked by the kernel); the base URL ends in /v1. */
  async start(host: string): Promise<string> {
    this.server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const json = JSON.parse(body || "{}") as {
          model?: string;
          stream?: boolean;
          messages?: { role: string; content: unknown }[];
        };
        this.calls.push({
          auth: req.headers.authorization,
          model: json.model,
          messages: json.messages ?? [],
        });
        const reply = `fake reply #${this.calls.length}`;
        const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
        const base = { id: "c", created: 1, model: json.model };
        if (json.stream) {
          res.writeHead(200, { "content-type": "text/event-stream" });
          const chunk = (delta: object, finish: string | null) =>
            `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, finish_reason: finish }], ...(finish ? { usage } : {}) })}\n\n`;
          res.write(chunk({ role: "assistant", content: reply }, null));
          res.write(chunk({}, "stop"));
          return res.end("data: [DONE]\n\n");
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            ...base,
            object: "chat.completion",
            choices: [
              { index: 0, message: { role: "assistant", content: reply }, finish_reason: "stop" },
            ],
            usage,
          }),
        );
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, host, resolve));
    const { port } = this.server.address() as { port: number };
    this.url = `http://${host}:${port}/v1`;
    return this.url;
  }

  close(): void {
    this.server?.closeAllConnections();
    this.server?.close();
  }
}
