export interface Limits {
  memoryBytes: number;
  pids: number;
  cpus: number;
}

/** Upstream's limits (12 GiB, 256 pids, 2 CPUs); per node and per spawn they can be lowered or raised. */
export const DEFAULT_LIMITS: Limits = { memoryBytes: 12 * 1024 ** 3, pids: 256, cpus: 2 };
