import { randomBytes } from "node:crypto";
import { engineClient } from "../../src/host/engine.js";
import { resolveStateDir, statePaths } from "../../src/host/paths.js";
import type { DockerClient } from "../../src/runtime/docker/client.js";

export const paths = statePaths(resolveStateDir());

/** The engine the test command set up (the same resolution the CLI uses). */
export function testClient(): DockerClient {
  return engineClient(paths);
}

export function uniqueName(prefix: string): string {
  return `vmdtest-${prefix}-${randomBytes(4).toString("hex")}`;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
