import { request } from "node:http";
import { VmdError } from "../../errors.js";

export interface RuntimeAnswer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

/**
 * POSTs to a runtime's `/vmm/*` (every call is POST, as upstream). One connection per call, like
 * upstream's client with keep-alive off: an idle kept-alive socket would be an established TCP
 * connection inside the container, which CRIU refuses to checkpoint.
 */
export function callRuntime(
  base: string,
  path: string,
  body?: unknown,
  timeoutMs = 600_000,
): Promise<RuntimeAnswer> {
  const payload = body === undefined ? "" : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}/vmm/${path}`,
      {
        method: "POST",
        agent: false,
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
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: Record<string, unknown>;
          try {
            parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
          } catch {
            parsed = {};
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
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

/** Polls `/vmm/health` until it answers 200 (every 25 ms, not upstream's 500 ms). */
export async function waitHealthy(
  base: string,
  timeoutMs: number,
  isGone: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await callRuntime(base, "health", undefined, 2000)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new VmdError(
        "err_runtime_unhealthy",
        `the runtime at ${base} did not become healthy in ${timeoutMs / 1000} s`,
        "read the container's logs",
      );
    if (await isGone())
      throw new VmdError(
        "err_runtime_exited",
        "the runtime's container exited during start",
        "read the container's logs (docker logs)",
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}
