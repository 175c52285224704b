// The gateway's health as a user sees it: `GET http://127.0.0.1:<port>/health` answering 200.
import { VmdError } from "../../errors.js";

/** One probe; false on any error, a non-200 answer or no answer within `timeoutMs`. */
export async function healthOk(port: number, timeoutMs = 3000): Promise<boolean> {
  // A timer of our own, not AbortSignal.timeout(): that one does not keep the event loop alive,
  // so a CLI whose only pending work was a probe stuck on a booting guest exited with code 13
  // (unsettled top-level await) instead of reporting "down".
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: abort.signal });
    await res.arrayBuffer();
    return res.status === 200;
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
