import { VmdError } from "../../errors.js";
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
