import { errorMessage, VmdError } from "../../errors.js";
import type { Limits } from "./limits.js";

export interface RuntimeAnswer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

export interface InstanceSpec {
  name: string;
  image: string;
  argv: string[];
  env: Record<string, string>;
  workspace: string;
  limits: Limits;
  /** Overrides the image's user (e.g. "0" where CRIU needs it; capabilities stay dropped). */
  user?: string;
  /** Keep connections to the runtime open between calls (not for CRIU-checkpointed processes). */
  keepAlive?: boolean;
}

/** A running instance of a runtime, on whichever backend: how to call its `/vmm/*`, whether it lives, how to end it. */
export interface Instance {
  readonly id: string;
  readonly name: string;
  call(path: string, body?: unknown, timeoutMs?: number): Promise<RuntimeAnswer>;
  running(): Promise<boolean>;
  /** Stops and deletes the instance; one already gone counts as removed. Throws when it cannot. */
  remove(): Promise<void>;
  /** Freezes the instance's processes (where the backend can) and returns how to thaw them. */
  freeze?(): Promise<() => Promise<void>>;
}

/** Polls `/vmm/health` until it answers 200 (every 25 ms, not upstream's 500 ms). */
export async function waitHealthy(instance: Instance, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await instance.call("health", undefined, 2000)).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new VmdError(
        "err_runtime_unhealthy",
        `the runtime of ${instance.name} did not become healthy in ${timeoutMs / 1000} s`,
        "read the instance's logs",
      );
    if (!(await instance.running()))
      throw new VmdError(
        "err_runtime_exited",
        "the runtime's container exited during start",
        "read the container's logs (docker logs)",
      );
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Removes an instance on a failure path: a removal that fails is logged (with `why` the instance
 * is being removed), never thrown, so it cannot hide the failure being handled.
 */
export async function removeLogged(
  instance: Instance,
  why: string,
  log: (line: string) => void,
): Promise<void> {
  try {
    await instance.remove();
  } catch (err) {
    log(`could not remove ${instance.name} after ${why}: ${errorMessage(err)}`);
  }
}

/**
 * Removes an instance whose start failed, then rethrows the failure that stopped it (as
 * testcontainers' readiness wait does). Throws `cause`, always.
 */
export async function removeAndRethrow(
  instance: Instance,
  cause: unknown,
  log: (line: string) => void,
): Promise<never> {
  await removeLogged(instance, `its failed start (${errorMessage(cause)})`, log);
  throw cause;
}
