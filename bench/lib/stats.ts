export interface Summary {
  n: number;
  min: number;
  median: number;
  p95: number;
  max: number;
}

/** Nearest-rank percentiles: with few samples p95 is the largest but one, never interpolated. */
export function summarize(samples: number[]): Summary {
  if (samples.length === 0) return { n: 0, min: NaN, median: NaN, p95: NaN, max: NaN };
  const s = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return { n: s.length, min: s[0]!, median: rank(0.5), p95: rank(0.95), max: s.at(-1)! };
}

/** One measured quantity: ours and, when there is one, the raw engine's path measured in the same rounds. */
export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  /** Whether a smaller number is better (times, memory) or a larger one (rates). */
  better: "lower" | "higher";
  ours: Summary;
  baseline?: Summary;
  baselineLabel?: string;
  note?: string;
}

/** How many times the raw engine's cost ours is (median against median): above 1 is slower or bigger. */
export function costRatio(row: Row): number | undefined {
  if (!row.baseline || !(row.baseline.median > 0) || !(row.ours.median > 0)) return undefined;
  return row.better === "lower"
    ? row.ours.median / row.baseline.median
    : row.baseline.median / row.ours.median;
}

export const now = () => performance.now();

/** Runs `ours` and `baseline` alternately, `rounds` times each, and returns their samples. */
export async function interleaved(
  rounds: number,
  ours: (round: number) => Promise<number>,
  baseline: (round: number) => Promise<number>,
): Promise<{ ours: number[]; baseline: number[] }> {
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always runs on a machine the other just warmed.
    if (r % 2 === 0) {
      a.push(await ours(r));
      b.push(await baseline(r));
    } else {
      b.push(await baseline(r));
      a.push(await ours(r));
    }
  }
  return { ours: a, baseline: b };
}

/** A row of times (ms, lower is better) from interleaved samples of ours and the raw engine's path. */
export function timedRow(
  scenario: string,
  metric: string,
  s: { ours: number[]; baseline: number[] },
  baselineLabel: string,
): Row {
  return {
    scenario,
    metric,
    unit: "ms",
    better: "lower",
    ours: summarize(s.ours),
    baseline: summarize(s.baseline),
    baselineLabel,
  };
}
