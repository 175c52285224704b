import { VmdError } from "../../errors.js";

export interface RuntimeAnswer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

/** POSTs to a runtime's `/vmm/*` (keep-alive, as Node's fetch pools connections). Every call is POST, as upstream. */
export async function callRuntime(
  base: string,
  path: string,
  body?: unknown,
  timeoutMs = 600_000,
): Promise<RuntimeAnswer> {
  const res = await fetch(`${base}/vmm/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "*/*" },
    body: body === undefined ? "" : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = {};
  }
  return { status: res.status, body: parsed, text };
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
