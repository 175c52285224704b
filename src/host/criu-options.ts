import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * runc hands CRIU this options file on every checkpoint and restore (Docker 20.10 cannot pass
 * per-container CRIU options). vmdocker needs two:
 * - `tcp-close`: established TCP connections (a bot's long poll, a keep-alive) are dumped without
 *   their state and come back closed, so the application reconnects; without it CRIU refuses to
 *   dump, and a restore in a container with a new address could not rebind them anyway.
 * - `file-locks`: SQLite and OpenClaw hold POSIX locks; CRIU refuses to dump a locking process.
 */
export const RUNC_CRIU_CONF = "/etc/criu/runc.conf";
export const CRIU_OPTIONS = ["tcp-close", "file-locks"] as const;
const MARK = "# written by vmdocker host setup (vmdocker host stop removes it)";

export interface CriuOptionsState {
  /** Every option vmdocker needs is in the file. */
  ok: boolean;
  /** The file is vmdocker's own. */
  ours: boolean;
  missing: string[];
}

function options(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean)
    .map((l) => l.replace(/^--/, "").split(/\s+/)[0]!);
}

/** What a host without every option cannot do (set-up's and the doctor's words). */
export const missingCriuOptions = (state: CriuOptionsState) =>
  `${RUNC_CRIU_CONF} lacks ${state.missing.join(", ")}: processes with open connections or file locks (OpenClaw) cannot be checkpointed`;

export function criuOptionsState(file = RUNC_CRIU_CONF): CriuOptionsState {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const have = options(text);
  const missing = CRIU_OPTIONS.filter((o) => !have.includes(o));
  return { ok: missing.length === 0, ours: text.startsWith(MARK), missing };
}

/** Writes the options file when there is none (or it is ours); an operator's own file is left alone. */
export function ensureCriuOptions(file = RUNC_CRIU_CONF): CriuOptionsState & { written: boolean } {
  const state = criuOptionsState(file);
  if (state.ok || (existsSync(file) && !state.ours)) return { ...state, written: false };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${MARK}\n${CRIU_OPTIONS.join("\n")}\n`);
  return { ...criuOptionsState(file), written: true };
}

/**
 * `vmdocker host stop` removes the file if the set-up of the same state folder wrote it (`marker`):
 * a stop for another state folder must not pull it from under a running engine.
 */
export function removeCriuOptions(marker: string, file = RUNC_CRIU_CONF): boolean {
  if (!existsSync(marker)) return false;
  rmSync(marker, { force: true });
  if (!criuOptionsState(file).ours) return false;
  rmSync(file, { force: true });
  return true;
}
