// Formatting shared by the dashboard's pages and its tests: pure functions, no DOM.

/** 1536 → "1.5 KiB"; null → "–". */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** Milliseconds as "850 ms", "12.3 s", "4m 05s", "3h 02m", "2d 04h". */
export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const pad = (x: number) => String(Math.floor(x)).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${pad((s % 86400) / 3600)}h`;
}

/** How long ago `t` (ms since the epoch) was, from `now`: "just now", "5 s ago", "3m 10s ago". */
export function ago(t: number | null | undefined, now: number): string {
  if (!t) return "never";
  const d = now - t;
  if (d < 1500) return "just now";
  return `${duration(d).replace(/\.\d s$/, " s")} ago`;
}

/** 0.9731 → "97.3%"; null → "–". */
export function ratio(r: number | null | undefined): string {
  return r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)}%`;
}

/** The first and last characters of a long id: "abcd…wxyz". */
export function shortId(id: string, keep = 6): string {
  return id.length > keep * 2 + 1 ? `${id.slice(0, keep)}…${id.slice(-4)}` : id;
}

/** A rate per minute: two decimals below 10 ("0.03"), one above ("42.5"). */
export function perMin(r: number): string {
  return r < 10 ? r.toFixed(2) : r.toFixed(1);
}
