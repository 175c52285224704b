// Shared by both drivers: starting a VMM process with its output in log files, and waiting for
// its control socket while noticing an early exit.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { VmdError } from "../../errors.js";

/**
 * Spawns `binary args` with stdout to `stdoutFile` and stderr to `stderrFile` (both appended).
 * The child gets its own process group, so a terminal's Ctrl-C does not reach the guest.
 */
export function spawnVmm(
  binary: string,
  args: string[],
  stdoutFile: string,
  stderrFile: string,
): ChildProcess {
  mkdirSync(dirname(stdoutFile), { recursive: true });
  const out = openSync(stdoutFile, "a", 0o600);
  const err = stderrFile === stdoutFile ? out : openSync(stderrFile, "a", 0o600);
  try {
    return spawn(binary, args, { stdio: ["ignore", out, err], detached: true });
  } finally {
    closeSync(out);
    if (err !== out) closeSync(err);
  }
}

/**
 * Polls `probe` until it resolves true; fails early when `child` exits first.
 * @throws VmdError err_vmm_start naming `logFile`
 */
export async function waitReady(
  child: ChildProcess,
  probe: () => Promise<boolean>,
  what: string,
  logFile: string,
  timeoutMs = 30_000,
): Promise<void> {
  let exited: string | null = null;
  const onExit = (code: number | null, signal: string | null) => {
    exited = signal ?? `exit ${code}`;
  };
  child.once("exit", onExit);
  const spawnError = new Promise<Error>((resolve) => child.once("error", resolve));
  let error: Error | null = null;
  void spawnError.then((e) => (error = e));
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (error)
        throw new VmdError(
          "err_vmm_start",
          `${what} could not be started: ${(error as Error).message}`,
          "install it (`vm-ctl doctor` says how)",
        );
      if (exited)
        throw new VmdError(
          "err_vmm_start",
          `${what} exited during start-up (${exited})`,
          `read ${logFile}`,
        );
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline)
        throw new VmdError(
          "err_vmm_start",
          `${what} did not open its control socket in ${timeoutMs / 1000} s`,
          `read ${logFile}`,
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    child.off("exit", onExit);
  }
}
