import type { IncomingMessage, ServerResponse } from "node:http";

/** One server-sent event as kept in an {@link EventLog}: `id` rises by one per event. */
export interface LoggedEvent {
  id: number;
  event: string;
  data: unknown;
}

/** What subscribers get: a logged event, or a transient one (no id, never replayed). */
export type StreamEvent = Omit<LoggedEvent, "id"> & { id?: number };

/**
 * The last `capacity` events of a stream, numbered, so a client that reconnects with
 * `Last-Event-ID` (the EventSource standard, WHATWG HTML §9.2) gets what it missed. Ids start at
 * a random-ish epoch (the start time in ms) so ids from before a restart are recognised as stale.
 */
export class EventLog {
  private readonly ring: LoggedEvent[] = [];
  private next: number;
  private readonly listeners = new Set<(e: StreamEvent) => void>();
  private readonly enders = new Set<() => void>();

  constructor(
    private readonly capacity = 2000,
    start: number = Date.now(),
  ) {
    this.next = start;
  }

  /** Appends an event and hands it to every subscriber; returns it with its id. */
  push(event: string, data: unknown): LoggedEvent {
    const e = { id: this.next++, event, data };
    this.ring.push(e);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const l of this.listeners) l(e);
    return e;
  }

  /** Hands an event to the subscribers without keeping it (bulky events such as output chunks). */
  broadcast(event: string, data: unknown): void {
    for (const l of this.listeners) l({ event, data });
  }

  /** The id the next event will get. */
  get nextId(): number {
    return this.next;
  }

  /**
   * Events after `lastId`, or null when some of them are no longer kept (or `lastId` is not one
   * of this log's ids): the client must then reload everything.
   */
  since(lastId: number): LoggedEvent[] | null {
    if (lastId === this.next - 1) return [];
    const first = this.ring[0];
    if (!first || lastId < first.id - 1 || lastId >= this.next) return null;
    return this.ring.slice(lastId - first.id + 1);
  }

  subscribe(fn: (e: StreamEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  /** Registers what ends one client's stream; returns the unregister. */
  onEnd(fn: () => void): () => void {
    this.enders.add(fn);
    return () => this.enders.delete(fn);
  }

  /** Ends every client's stream (a server about to close: it would wait for them forever). */
  end(): void {
    for (const fn of [...this.enders]) fn();
  }
}

/** Opens a server-sent event response; `retry` tells the browser how soon to reconnect (ms). */
export function openSse(
  raw: ServerResponse,
  retryMs = 1000,
): (event: string, data: unknown, id?: number) => void {
  raw.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  raw.write(`retry: ${retryMs}\n: connected\n\n`);
  return (event, data, id) =>
    raw.write(
      `${id === undefined ? "" : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`,
    );
}

/**
 * Serves `log` as an event stream on `raw`: first what the client missed since its
 * `Last-Event-ID` header (or `lastEventId` query), else a `reset` event when that is no longer
 * kept; then every new event, with a comment every 15 s so proxies keep the connection open.
 */
export function streamLog(req: IncomingMessage, raw: ServerResponse, log: EventLog): void {
  const write = openSse(raw);
  const header = req.headers["last-event-id"];
  const last = Number(Array.isArray(header) ? header[0] : header);
  if (header !== undefined && Number.isFinite(last)) {
    const missed = log.since(last);
    if (missed) for (const e of missed) write(e.event, e.data, e.id);
    else write("reset", { nextId: log.nextId }, log.nextId - 1);
  } else write("hello", { nextId: log.nextId }, log.nextId - 1);
  const stop = log.subscribe((e) => write(e.event, e.data, e.id));
  const beat = setInterval(() => raw.write(": ping\n\n"), 15_000);
  beat.unref();
  const unEnd = log.onEnd(() => raw.end());
  req.on("close", () => {
    stop();
    unEnd();
    clearInterval(beat);
  });
}

/**
 * Reads a server-sent event stream (`event:`, `id:` and one JSON `data:` line per block) as the
 * events arrive.
 */
export async function* sseEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<{ event: string; data: unknown; id?: number }> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      const id = /^id: (\d+)$/m.exec(block)?.[1];
      if (event && data !== undefined)
        yield {
          event,
          data: JSON.parse(data) as unknown,
          ...(id !== undefined ? { id: Number(id) } : {}),
        };
    }
  }
}
