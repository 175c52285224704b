// The page's one live connection: the dashboard's event stream. The browser's EventSource
// reconnects by itself and sends Last-Event-ID, so the server replays what was missed; when it
// cannot, it sends `reset` and every view reloads.

type Handler = (event: string, data: unknown) => void;

const TYPES = [
  "host",
  "health",
  "bots",
  "agent.connected",
  "agent.disconnected",
  "agent.created",
  "agent.removed",
  "agent.refused",
  "agent.health",
  "agent.container",
  "agent.action",
  "task.queued",
  "task.running",
  "task.finished",
  "process.spawned",
  "process.message",
  "process.result",
  "process.checkpoint",
  "process.stopped",
  "process.resumed",
];

const handlers = new Set<Handler>();
const stateListeners = new Set<(connected: boolean) => void>();
let connected = false;
let source: EventSource | undefined;
let opened = 0;

function setConnected(c: boolean): void {
  if (c === connected) return;
  connected = c;
  document.documentElement.dataset.live = c ? "on" : "off";
  for (const l of stateListeners) l(c);
}

function dispatch(event: string, data: unknown): void {
  for (const h of handlers) h(event, data);
}

/** Opens the stream (once); a stream the server closed for good is reopened after 2 s. */
export function connect(): void {
  if (source && source.readyState !== EventSource.CLOSED) return;
  const es = new EventSource("/api/events");
  source = es;
  es.addEventListener("hello", () => {
    // A new stream after an earlier one: what happened in between is unknown.
    if (opened++ > 0) dispatch("reset", {});
  });
  es.addEventListener("reset", () => dispatch("reset", {}));
  for (const t of TYPES)
    es.addEventListener(t, (m) => dispatch(t, JSON.parse((m as MessageEvent<string>).data)));
  es.onopen = () => setConnected(true);
  es.onerror = () => {
    setConnected(false);
    if (es.readyState === EventSource.CLOSED)
      setTimeout(() => {
        void fetch("/api/session").then((r) => {
          if (r.status === 401) location.assign("/login");
          else connect();
        });
      }, 2000);
  };
}

/** Calls `fn` for every event (and `reset`); returns the unsubscribe. */
export function onEvent(fn: Handler): () => void {
  handlers.add(fn);
  return () => handlers.delete(fn);
}

export function onConnection(fn: (connected: boolean) => void): () => void {
  stateListeners.add(fn);
  fn(connected);
  return () => stateListeners.delete(fn);
}
