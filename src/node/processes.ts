import type { Env } from "../protocol/hymx.js";
import type { Vm } from "../vm/contract.js";
import type { Committed } from "./runner.js";

/** What the node keeps in memory for one process it runs. */
export interface ProcessState {
  pid: string;
  env: Env;
  /** The Env as it was at spawn, to start over when there is no checkpoint. */
  spawnEnv: Env;
  vm?: Vm;
  spawnError?: string;
  /** Work on the process (applies, checkpoints, restores) runs one after another, in queue order. */
  chain: Promise<void>;
  /** Nonce assignment is serialised per process (the checks before it read the store). */
  assigning: Promise<unknown>;
  /** The last nonce handed out (its commit may still be in flight). */
  nonce: number;
  /** A commit failed: `nonce` is read back from the store before the next one is handed out. */
  resync?: boolean;
  /** Committed messages waiting for their apply, by nonce. */
  ready: Map<number, Committed>;
  /** A piece of work that applies `ready` messages is queued. */
  draining: boolean;
  /** Settles once the last result saved so far is stored (saves resolve in order). */
  saved: Promise<void>;
  /** Highest sequence seen from each sending process (err_sequence_too_low). */
  received: Record<string, number>;
  /** Stopped by the admin API: checkpointed, VM closed, messages refused until resumed. */
  stopped: boolean;
  checkpointedNonce: number;
}

/**
 * Counts work that is queued or running; `idle()` resolves once the count is back at zero.
 * Work may start more work before it ends (a delivery submits a message), so the count never
 * passes through zero in between.
 */
export class WorkCounter {
  private count = 0;
  private waiters: (() => void)[] = [];

  /** Counts `work` until it settles; hands back the same promise. */
  track<T>(work: Promise<T>): Promise<T> {
    this.count++;
    const done = () => {
      if (--this.count > 0) return;
      for (const wake of this.waiters.splice(0)) wake();
    };
    work.then(done, done);
    return work;
  }

  /** Resolves when nothing is counted (at once when nothing is). */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * The processes this node runs, and the one way to run work on a process: after everything
 * already queued on its chain (FIFO per process, processes in parallel).
 */
export class ProcessTable {
  private readonly procs = new Map<string, ProcessState>();
  /** Every piece of process work and delivery, for `settled()`. */
  readonly work = new WorkCounter();

  get(pid: string): ProcessState | undefined {
    return this.procs.get(pid);
  }

  has(pid: string): boolean {
    return this.procs.has(pid);
  }

  set(state: ProcessState): void {
    this.procs.set(state.pid, state);
  }

  all(): ProcessState[] {
    return [...this.procs.values()];
  }

  clear(): void {
    this.procs.clear();
  }

  /**
   * Runs `work` on the process's chain once everything queued before it has run, and hands back
   * that work's own outcome (its value, or its error). The chain moves on either way.
   */
  run<T>(state: ProcessState, work: () => Promise<T>): Promise<T> {
    const outcome = this.work.track(state.chain.then(work));
    state.chain = outcome.then(
      () => {},
      () => {},
    );
    return outcome;
  }

  /** `run` for work nobody waits on: a failure is reported to `onError`. */
  queue(state: ProcessState, work: () => Promise<void>, onError: (err: unknown) => void): void {
    this.run(state, work).catch(onError);
  }

  /** Waits until every queued piece of work of `pid` (or of every process) has run and its results are stored. */
  async idle(pid?: string): Promise<void> {
    const states = pid ? [this.procs.get(pid)] : this.all();
    await Promise.all(
      states.map(async (s) => {
        // Work on the chain may queue more (a drain with messages left): wait until it stops.
        for (let seen: Promise<void> | undefined; s && seen !== s.chain;) {
          seen = s.chain;
          await seen;
          await s.saved;
        }
      }),
    );
  }
}
