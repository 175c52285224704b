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

/** What a chart's value axis counts: it decides the unit and decimals of its tick labels. */
export type AxisKind = "count" | "percent" | "bytes" | "ms";

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Labels with the fewest decimals (0-3) that tell every tick apart, or null when none do. */
function distinct(vals: number[], div: number, suffix: string): string[] | null {
  for (let d = 0; d <= 3; d++) {
    const labels = vals.map((v) => `${(v / div).toFixed(d)}${suffix}`);
    if (new Set(labels).size === labels.length) return labels;
  }
  return null;
}

/**
 * Tick labels for a chart's value axis (`vals` evenly spaced, as the chart library picks them):
 * in one unit for the whole axis, with as few decimals as keep any two ticks from reading alike
 * (a disk at 46.1 GiB moving by megabytes reads in MiB). Counts label whole numbers only.
 */
export function axisLabels(vals: number[], kind: AxisKind): string[] {
  const max = Math.max(0, ...vals.map((v) => Math.abs(v)));
  if (kind === "count") return vals.map((v) => (Number.isInteger(v) ? v.toLocaleString("en") : ""));
  if (kind === "percent") return distinct(vals, 1, "%") ?? vals.map((v) => `${v}%`);
  if (kind === "ms") {
    const [div, unit] = max >= 120_000 ? [60_000, " min"] : max >= 1000 ? [1000, " s"] : [1, " ms"];
    return distinct(vals, div, unit) ?? vals.map((v) => `${v} ms`);
  }
  let i = 0;
  while (max >= 1024 ** (i + 1) && i < BYTE_UNITS.length - 1) i++;
  for (; i >= 0; i--) {
    const labels = distinct(vals, 1024 ** i, ` ${BYTE_UNITS[i]}`);
    if (labels) return labels;
  }
  return vals.map((v) => `${v} B`);
}
