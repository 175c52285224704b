// The gateway's health as a user sees it, through 127.0.0.1:<port>: `GET /health` answers 200 and
// the gateway has finished starting. OpenClaw's /health is its liveness probe: it answers as soon
// as the HTTP server listens, while plugins, channels and sidecars are still loading (openclaw
// 2026.9.6, gateway-http-route-contracts: /health "live", /startupz "startup"). Under emulation that
// loading holds the gateway's event loop for tens of seconds at a time, so a gate on /health alone
// let vm-setup report a bot that then did not answer. /startupz answers 503 until startup is done.
import { VmdError } from "../../errors.js";

async function getStatus(url: string, signal: AbortSignal): Promise<number> {
  const res = await fetch(url, { signal });
  await res.arrayBuffer();
  return res.status;
}

/**
 * How long one status probe waits for an answer, in ms. Under software emulation (TCG) a busy
 * OpenClaw gateway holds its event loop for seconds (its own liveness log measured stalls of 1 to
 * 17 s in the first minutes after its start on a quiet 2-core host), so 2 s called a serving bot
 * "down"; with KVM or Firecracker the gateway answers in milliseconds.
 */
export function probeTimeoutMs(accel: "kvm" | "tcg"): number {
  return accel === "tcg" ? 20_000 : 2000;
}

/**
 * One probe: true when /health answers 200 and /startupz 200 (or 404: a gateway without a
 * startup probe, such as the tests' busybox guest), both within `timeoutMs` in all; false on any
 * error, another answer, or no answer in time.
 */
export async function healthOk(port: number, timeoutMs = 3000): Promise<boolean> {
  // A timer of our own, not AbortSignal.timeout(): that one does not keep the event loop alive,
  // so a CLI whose only pending work was a probe stuck on a booting guest exited with code 13
  // (unsettled top-level await) instead of reporting "down".
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const base = `http://127.0.0.1:${port}`;
  try {
    if ((await getStatus(`${base}/health`, abort.signal)) !== 200) return false;
    const startup = await getStatus(`${base}/startupz`, abort.signal);
    return startup === 200 || startup === 404;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls /health through the proxy every `everyMs` until it answers 200.
 * @throws VmdError err_health_timeout after `timeoutMs`, or when `stillAlive` turns false
 */
export async function waitHealthy(
  port: number,
  timeoutMs: number,
  opts: {
    everyMs?: number;
    stillAlive?: () => boolean;
    what?: string;
    onWait?: (s: number) => void;
  } = {},
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await healthOk(port)) return Date.now() - started;
    const waited = Date.now() - started;
    if (opts.stillAlive && !opts.stillAlive())
      throw new VmdError(
        "err_health_timeout",
        `${opts.what ?? "the VM"} stopped before the gateway answered on 127.0.0.1:${port}`,
        "read the host log: vm-ctl logs <id> host",
      );
    if (waited > timeoutMs)
      throw new VmdError(
        "err_health_timeout",
        `the gateway did not answer GET http://127.0.0.1:${port}/health within ${Math.round(timeoutMs / 1000)} s`,
        "read the guest log: vm-ctl logs <id>",
      );
    opts.onWait?.(waited / 1000);
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 500));
  }
}
