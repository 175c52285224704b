import type { FinishedTask, TaskState } from "./store.js";

/** One time bucket of finished tasks: `t` is its start (ms since the epoch). */
export interface MetricsBucket {
  t: number;
  succeeded: number;
  failed: number;
  p50Ms: number | null;
  p95Ms: number | null;
}

/**
 * Task metrics over a window: how many finished and how (every state but `succeeded` counts as
 * failed), the success ratio, the rate (finished per minute) and duration percentiles, overall
 * and per bucket; plus how many tasks are in each state now.
 */
export interface TaskMetrics {
  now: number;
  windowMs: number;
  bucketMs: number;
  finished: number;
  succeeded: number;
  failed: number;
  /** succeeded / finished, null when none finished. */
  successRatio: number | null;
  ratePerMin: number;
  p50Ms: number | null;
  p95Ms: number | null;
  states: Partial<Record<TaskState, number>>;
  buckets: MetricsBucket[];
}

/** Nearest-rank percentile of sorted numbers (the same rule as bench/lib/stats.ts), null when empty. */
export function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Aggregates finished tasks into {@link TaskMetrics}; rows outside `[now - windowMs, now]` are ignored. */
export function taskMetrics(
  rows: FinishedTask[],
  states: Partial<Record<TaskState, number>>,
  now: number,
  windowMs: number,
  bucketMs: number,
): TaskMetrics {
  const start = now - windowMs;
  const n = Math.max(1, Math.ceil(windowMs / bucketMs));
  const first = now - n * bucketMs;
  const per: { ok: number; bad: number; d: number[] }[] = Array.from({ length: n }, () => ({
    ok: 0,
    bad: 0,
    d: [],
  }));
  const all: number[] = [];
  let succeeded = 0;
  let finished = 0;
  for (const r of rows) {
    if (r.finishedAt < start || r.finishedAt > now) continue;
    const b = per[Math.min(n - 1, Math.floor((r.finishedAt - first) / bucketMs))]!;
    finished++;
    if (r.status === "succeeded") {
      succeeded++;
      b.ok++;
    } else b.bad++;
    const d = Math.max(0, r.durationMs);
    b.d.push(d);
    all.push(d);
  }
  const sort = (a: number[]) => a.sort((x, y) => x - y);
  sort(all);
  return {
    now,
    windowMs,
    bucketMs,
    finished,
    succeeded,
    failed: finished - succeeded,
    successRatio: finished ? succeeded / finished : null,
    ratePerMin: finished / (windowMs / 60_000),
    p50Ms: percentile(all, 0.5),
    p95Ms: percentile(all, 0.95),
    states,
    buckets: per.map((b, i) => {
      sort(b.d);
      return {
        t: first + i * bucketMs,
        succeeded: b.ok,
        failed: b.bad,
        p50Ms: percentile(b.d, 0.5),
        p95Ms: percentile(b.d, 0.95),
      };
    }),
  };
}
