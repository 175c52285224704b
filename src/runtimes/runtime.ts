/** A runtime inside an instance: what `/vmm/*` drives. Code here runs in the container. */
export interface Tag {
  name: string;
  value: string;
}

export type Meta = Record<string, unknown> & {
  Action?: string;
  Data?: string;
  Sequence?: number;
  Pid?: string;
  "Item-Id"?: string;
};

export interface RuntimeResult {
  Messages: { Sequence?: string; Target: string; Data?: string; Tags: Tag[] }[];
  Spawns: unknown[];
  Assignments: unknown[];
  Output: unknown;
  Data: string;
  Cache: Record<string, string> | null;
  Error: null;
}

export interface Runtime {
  apply(from: string, meta: Meta, params: Record<string, string>): Promise<RuntimeResult>;
  checkpoint(): Promise<string>;
  /**
   * Evaluates a message without effects (nothing kept, nothing sent). Runtimes that cannot do that
   * leave it out, and the server answers `/vmm/dryrun` with err_dryrun_unsupported.
   */
  dryrun?(from: string, meta: Meta, params: Record<string, string>): Promise<RuntimeResult>;
  /** What the spawn itself produced (an AO process evaluates its spawn message), if anything. */
  spawnResult?: RuntimeResult;
}

export type RuntimeFactory = (opts: {
  tags: Record<string, string>;
  state?: string;
  /** The whole `/vmm/spawn` or `/vmm/restore` body (pid, owner, data, tags, env). */
  request?: Record<string, unknown>;
}) => Promise<Runtime>;

/** A runtime's failure whose text is the answer as it is (no "apply failed" prefix). */
export class RuntimeAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuntimeAnswerError";
  }
}
