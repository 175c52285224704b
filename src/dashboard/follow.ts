import { sseEvents } from "../sys/sse.js";

/** A followed stream: `close()` stops it for good. */
export interface Follower {
  close(): void;
  /** Whether the stream is connected now. */
  readonly connected: boolean;
}

/**
 * Follows a server-sent event stream at `url` for as long as it is not closed: on a drop it
 * reconnects (every `retryMs`) with `Last-Event-ID`, so the server replays what was missed; when
 * it cannot (its `reset` event), and on the first connect, `onReset` runs, telling the caller to
 * reload its view. `url` is read at each connect, so it may change.
 */
export function follow(opts: {
  url: () => string | undefined;
  headers?: Record<string, string>;
  onEvent: (event: string, data: unknown) => void;
  onReset: () => void;
  retryMs?: number;
}): Follower {
  let stopped = false;
  let connected = false;
  let lastId: number | undefined;
  let abort = new AbortController();
  const retry = opts.retryMs ?? 1000;

  async function once(url: string): Promise<void> {
    abort = new AbortController();
    const res = await fetch(url, {
      headers: {
        ...opts.headers,
        ...(lastId !== undefined ? { "last-event-id": String(lastId) } : {}),
      },
      signal: abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    connected = true;
    for await (const e of sseEvents(res.body)) {
      if (e.id !== undefined) lastId = e.id;
      // hello: the first connect (the stream was not there before, so views may be stale);
      // reset: the server no longer has what we missed.
      if (e.event === "reset" || e.event === "hello") opts.onReset();
      else opts.onEvent(e.event, e.data);
    }
  }
  void (async () => {
    while (!stopped) {
      const url = opts.url();
      if (url) {
        try {
          await once(url);
        } catch {
          // dropped or refused: try again below
        }
      }
      connected = false;
      if (!stopped) await new Promise((r) => setTimeout(r, retry).unref());
    }
  })();

  return {
    close() {
      stopped = true;
      abort.abort();
    },
    get connected() {
      return connected;
    },
  };
}
