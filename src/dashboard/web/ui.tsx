import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError } from "./api";

/** A coloured status word: `kind` picks the colour (ok, warn, bad, idle, busy). */
export function Pill(props: { kind: string; children: ComponentChildren; testid?: string }) {
  return (
    <span class={`pill pill-${props.kind}`} data-testid={props.testid}>
      {props.children}
    </span>
  );
}

const KIND: Record<string, string> = {
  connected: "ok",
  running: "ok",
  succeeded: "ok",
  ok: "ok",
  starting: "busy",
  queued: "idle",
  dispatched: "busy",
  paused: "warn",
  disconnected: "warn",
  warn: "warn",
  unknown: "idle",
  stopped: "idle",
  failed: "bad",
  timeout: "bad",
  cancelled: "warn",
  interrupted: "warn",
  error: "bad",
  down: "bad",
};
export const kindOf = (status: string) => KIND[status] ?? "idle";

/** "1–25 of 10,000" with previous / next. */
export function Pager(props: {
  offset: number;
  limit: number;
  total: number;
  onOffset: (o: number) => void;
}) {
  const { offset, limit, total } = props;
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <div class="pager">
      <span data-testid="pager-range">
        {total === 0
          ? "none"
          : `${(offset + 1).toLocaleString()}–${Math.min(total, offset + limit).toLocaleString()} of ${total.toLocaleString()}`}
      </span>
      <button disabled={offset === 0} onClick={() => props.onOffset(Math.max(0, offset - limit))}>
        ‹ Prev
      </button>
      <span class="muted">
        page {page} / {pages}
      </span>
      <button
        disabled={offset + limit >= total}
        data-testid="pager-next"
        onClick={() => props.onOffset(offset + limit)}
      >
        Next ›
      </button>
    </div>
  );
}

/**
 * A button that runs an async action, shows it is busy, and shows the error it ends with (or,
 * with `note`, what it made).
 */
export function ActionButton(props: {
  label: string;
  run: () => Promise<unknown>;
  confirm?: string;
  danger?: boolean;
  disabled?: boolean;
  testid?: string;
  /** A line about the action's result, shown once it succeeds. */
  note?: (out: unknown) => string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [note, setNote] = useState("");
  return (
    <span class="action">
      <button
        class={props.danger ? "danger" : ""}
        disabled={busy || props.disabled}
        data-testid={props.testid}
        onClick={async (e) => {
          e.stopPropagation();
          if (props.confirm && !confirm(props.confirm)) return;
          setBusy(true);
          setError("");
          setNote("");
          try {
            const out = await props.run();
            if (props.note) setNote(props.note(out));
          } catch (err) {
            setError(err instanceof ApiError ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? `${props.label}…` : props.label}
      </button>
      {error && <span class="error-text">{error}</span>}
      {note && (
        <span class="muted" data-testid={props.testid && `${props.testid}-note`}>
          {note}
        </span>
      )}
    </span>
  );
}

export function Empty(props: { title: string; children?: ComponentChildren; testid?: string }) {
  return (
    <div class="empty" data-testid={props.testid}>
      <h3>{props.title}</h3>
      {props.children}
    </div>
  );
}

/** A horizontal bar for a share (0–1) with its label. */
export function Meter(props: { value: number | null; label: string }) {
  const v = props.value === null ? 0 : Math.max(0, Math.min(1, props.value));
  return (
    <span class="meter" title={props.label}>
      <span class={`meter-fill ${v > 0.85 ? "hot" : ""}`} style={{ width: `${v * 100}%` }} />
      <span class="meter-label">{props.label}</span>
    </span>
  );
}
