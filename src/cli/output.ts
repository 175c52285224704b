import { VmdError } from "../errors.js";
import type { Check } from "../host/doctor.js";

/** A plain text table: columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One line for the user: what went wrong and how to fix it. Stacks only with VMDOCKER_DEBUG=1. */
export function formatError(err: unknown, prog = "vmdocker"): string {
  if (err instanceof VmdError)
    return `${prog}: ${err.message}${err.hint ? ` (fix: ${err.hint})` : ""}`;
  if (process.env.VMDOCKER_DEBUG && err instanceof Error && err.stack) return err.stack;
  return `${prog}: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * Prints a doctor's checks (a table, or JSON) and sets exit code 1 when a requirement is missing.
 */
export function printChecks(checks: Check[], json: boolean | undefined): void {
  if (json) printJson(checks);
  else
    console.log(
      table(
        ["REQUIREMENT", "STATUS", "DETAIL", "FIX"],
        checks.map((k) => [k.requirement, k.status, k.detail, k.fix]),
      ),
    );
  if (checks.some((k) => k.status === "missing")) process.exitCode = 1;
}
