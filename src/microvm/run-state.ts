// What is running for an instance right now, as the supervisor records it in FC_ROOT/<id>/run/:
// its own pid, the VMM's pid and a status file. Readers check every pid against /proc.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { z } from "zod";
import { isAlive } from "../host/started.js";
import { writePrivate } from "./envfile.js";
import type { InstancePaths } from "./paths.js";

export const RunStatusSchema = z.object({
  state: z.enum(["starting", "running", "paused", "error", "stopping"]),
  supervisorPid: z.number().int(),
  vmmPid: z.number().int().nullable(),
  /** When the current VMM started (ISO). */
  since: z.string(),
  /** VMM restarts after crashes since the supervisor started. */
  restarts: z.number().int(),
  lastExit: z.string().nullable(),
  lastError: z.string().nullable(),
  /** When the gateway last answered /health through the proxy (ISO), since this VMM started. */
  healthyAt: z.string().nullable(),
});
export type RunStatus = z.infer<typeof RunStatusSchema>;

export function writeRunStatus(p: InstancePaths, s: RunStatus): void {
  writePrivate(p.run.status, JSON.stringify(s), 0o644);
}

export function readRunStatus(p: InstancePaths): RunStatus | null {
  if (!existsSync(p.run.status)) return null;
  try {
    return RunStatusSchema.parse(JSON.parse(readFileSync(p.run.status, "utf8")));
  } catch {
    return null;
  }
}

export function readPid(file: string): number | null {
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, "utf8").trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** The pid in `file` when that process is alive and its command line mentions `marker`. */
export function livePid(file: string, marker: string): number | null {
  const pid = readPid(file);
  if (pid === null || !isAlive(pid)) return null;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(marker) ? pid : null;
  } catch {
    return null;
  }
}

/** The supervisor's pid when it runs (its command line names the instance). */
export function supervisorPid(p: InstancePaths): number | null {
  return livePid(p.run.supervisorPid, `supervise\0${p.id}\0`);
}

/** The VMM's pid when it runs (its command line names the instance's control socket). */
export function vmmPid(p: InstancePaths, controlSocket: string): number | null {
  return livePid(p.run.vmmPid, controlSocket);
}

export function clearRunFiles(p: InstancePaths): void {
  for (const f of [p.run.status, p.run.supervisorPid, p.run.vmmPid, p.run.paused])
    rmSync(f, { force: true });
}
