import { existsSync, readFileSync, rmSync } from "node:fs";

/** A daemon vmdocker started, recorded so `vmdocker host stop` stops only what vmdocker started. */
export interface StartedState {
  pid: number;
  socket?: string;
  port?: number;
  startedAt: string;
}

export function readStartedState(file: string): StartedState | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, "utf8")) as StartedState;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; forgets the record. Returns what was stopped, if anything. */
export async function stopStartedProcess(
  file: string,
  graceMs: number,
): Promise<StartedState | null> {
  const state = readStartedState(file);
  if (!state) return null;
  rmSync(file, { force: true });
  if (!isAlive(state.pid)) return null;
  process.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(state.pid)) process.kill(state.pid, "SIGKILL");
  return state;
}
