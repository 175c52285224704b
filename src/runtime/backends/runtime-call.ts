import { Agent, request } from "node:http";
import type { RuntimeAnswer } from "./instance.js";

/**
 * POSTs to a runtime's `/vmm/*` over HTTP (every call is POST, as upstream). Without an `agent`,
 * one connection per call, like upstream's client with keep-alive off: processes checkpointed
 * with CRIU need that, since an idle kept-alive socket is an established TCP connection inside
 * the container, which CRIU refuses to dump. Others pass a keep-alive agent.
 */
export function callRuntime(
  base: string,
  path: string,
  body?: unknown,
  timeoutMs = 600_000,
  agent: Agent | false = false,
): Promise<RuntimeAnswer> {
  const payload = body === undefined ? "" : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/vmm/${path}`,
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          accept: "*/*",
          "content-length": Buffer.byteLength(payload),
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve(answer(res.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"))),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`no answer from ${base}/vmm/${path} in ${timeoutMs / 1000} s`)),
    );
    req.on("error", reject);
    req.end(payload);
  });
}

export function answer(status: number, text: string): RuntimeAnswer {
  let body: Record<string, unknown>;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = {};
  }
  return { status, body, text };
}

/**
 * A keep-alive agent for one runtime. Idle sockets close after at most `idleMs` (default 30 s), and
 * before the runtime server's own keep-alive timeout, which it announces in `Keep-Alive:
 * timeout=N` (Node's agent then stops one second early): otherwise a call that reuses a socket the
 * server is closing at that moment fails with "socket hang up".
 */
export function runtimeAgent(idleMs = 30_000): Agent {
  return new Agent({ keepAlive: true, maxSockets: 4, timeout: idleMs });
}
