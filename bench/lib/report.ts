import { readFileSync, writeFileSync } from "node:fs";
import { costRatio, type Row, type Summary } from "./stats.js";

export interface Run {
  date: string;
  quick: boolean;
  machine: string;
  seconds: number;
  rows: Row[];
  /** Scenarios that could not run, with why. */
  skipped: { scenario: string; why: string }[];
}

const num = (v: number) =>
  !Number.isFinite(v) ? "–" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
const spread = (s: Summary) => `${num(s.min)} / ${num(s.median)} / ${num(s.p95)} / ${num(s.max)}`;

export function markdownTable(rows: Row[]): string {
  return [
    "| scenario | metric | unit | ours min / median / p95 / max | raw engine min / median / p95 / max | ours ÷ raw (cost) | n |",
    "|---|---|---|---|---|---:|---:|",
    ...rows.map((r) => {
      const ratio = costRatio(r);
      const base = r.baseline ? `${spread(r.baseline)} (${r.baselineLabel})` : "–";
      return `| ${r.scenario} | ${r.metric}${r.note ? ` (${r.note})` : ""} | ${r.unit} | ${spread(r.ours)} | ${base} | ${ratio === undefined ? "–" : `${ratio.toFixed(2)}×`} | ${r.ours.n} |`;
    }),
  ].join("\n");
}

export function markdown(run: Run): string {
  return [
    `# Benchmark ${run.quick ? "(quick) " : ""}${run.date}`,
    "",
    `Machine: ${run.machine}. Took ${run.seconds.toFixed(0)} s. Method: bench/README.md.`,
    "",
    markdownTable(run.rows),
    "",
    ...(run.skipped.length
      ? ["Not measured:", "", ...run.skipped.map((s) => `- ${s.scenario}: ${s.why}`), ""]
      : []),
  ].join("\n");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A horizontal bar per row with a baseline: ours ÷ raw engine on a log scale, 1× marked. */
export function svgChart(run: Run): string {
  const rows = run.rows
    .map((r) => ({ label: `${r.scenario}: ${r.metric}`, ratio: costRatio(r) }))
    .filter((r): r is { label: string; ratio: number } => r.ratio !== undefined);
  const left = 330;
  const width = 820;
  const barH = 18;
  const top = 40;
  const height = top + rows.length * (barH + 8) + 30;
  const maxLog = Math.max(1, ...rows.map((r) => Math.log10(r.ratio)));
  const minLog = Math.min(-1, ...rows.map((r) => Math.log10(r.ratio)));
  const x = (ratio: number) =>
    left + ((Math.log10(ratio) - minLog) / (maxLog - minLog)) * (width - left - 70);
  const one = x(1);
  const bars = rows.map((r, i) => {
    const y = top + i * (barH + 8);
    const end = x(r.ratio);
    const color = r.ratio <= 1.1 ? "#2e7d32" : r.ratio <= 3 ? "#f9a825" : "#c62828";
    return [
      `<text x="${left - 8}" y="${y + 13}" text-anchor="end" font-size="12">${esc(r.label)}</text>`,
      `<rect x="${Math.min(one, end)}" y="${y}" width="${Math.max(1, Math.abs(end - one))}" height="${barH}" fill="${color}"/>`,
      `<text x="${Math.max(one, end) + 4}" y="${y + 13}" font-size="12">${r.ratio.toFixed(2)}×</text>`,
    ].join("");
  });
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="14" font-weight="bold">${esc(`vmdocker ÷ raw engine, median cost (log scale; 1× = the engine's own path) — ${run.date}${run.quick ? " quick" : ""}`)}</text>`,
    ...bars,
    `<line x1="${one}" y1="${top - 6}" x2="${one}" y2="${height - 24}" stroke="black" stroke-dasharray="4"/>`,
    `<text x="${one}" y="${height - 8}" text-anchor="middle" font-size="12">1×</text>`,
    `</svg>`,
    "",
  ].join("\n");
}

const START = "<!-- bench:start -->";
const END = "<!-- bench:end -->";

/** Replaces the README's generated performance block with this run's table. */
export function updateReadme(path: string, run: Run, files: { md: string; svg: string }): void {
  const text = readFileSync(path, "utf8");
  const from = text.indexOf(START);
  const to = text.indexOf(END);
  if (from < 0 || to < from) throw new Error(`${path} has no ${START} … ${END} block`);
  const block = [
    START,
    "",
    `Latest full run (${run.date}, ${run.machine}; ${files.md}):`,
    "",
    `![ours ÷ raw engine](${files.svg})`,
    "",
    markdownTable(run.rows),
    "",
    ...run.skipped.map((s) => `- not measured: ${s.scenario}: ${s.why}`),
    "",
    END,
  ].join("\n");
  writeFileSync(path, text.slice(0, from) + block + text.slice(to + END.length));
}
