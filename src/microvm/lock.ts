// A lock file held by one process at a time (the seed's `flock` around IP and port allocation).
// Created with O_EXCL and the holder's pid; a lock whose holder is gone is taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { VmdError } from "../errors.js";
import { isAlive } from "../host/started.js";

function holder(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function tryTake(file: string): boolean {
  try {
    const fd = openSync(file, "wx", 0o600);
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const pid = holder(file);
    // An empty file is a holder that has not written its pid yet: wait for it.
    if (pid !== null && pid !== process.pid && !isAlive(pid)) rmSync(file, { force: true });
    return false;
  }
}

/**
 * Runs `fn` while holding the lock `file`; waits up to `timeoutMs` for another holder.
 * @throws VmdError err_locked when the lock stays taken
 */
export async function withLock<T>(
  file: string,
  fn: () => Promise<T>,
  timeoutMs = 120_000,
): Promise<T> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + timeoutMs;
  while (!tryTake(file)) {
    if (Date.now() > deadline)
      throw new VmdError(
        "err_locked",
        `${file} is held by process ${holder(file) ?? "?"}`,
        "wait for the other vm-setup/vm-ctl to finish, or remove the file if no such process runs",
      );
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    rmSync(file, { force: true });
  }
}
