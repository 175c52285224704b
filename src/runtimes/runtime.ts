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

/**
 * Who is asking, as the node established it from signatures (the runtime server fills it in; the
 * node never takes it from unsigned fields).
 */
export interface Caller {
  /** The process owner: its spawn's signer (or the process that spawned it); "" when not known. */
  owner: string;
  /** The sender: the message's From-Process (checked by the node) or its signer; "" in a dry-run. */
  sender: string;
  /** The address that signed the message (`Acc-Id`); "" in a dry-run. */
  signer: string;
  /** True for a dry-run: evaluate without effects. */
  dryRun: boolean;
}

export interface Runtime {
  apply(
    from: string,
    meta: Meta,
    params: Record<string, string>,
    caller: Caller,
  ): Promise<RuntimeResult>;
  /**
   * Present only on runtimes that can evaluate a message without effects (no state change,
   * nothing called outside); the server refuses dry-runs of the others with
   * err_dry_run_unsupported. `from` and `meta["Acc-Id"]` are unsigned here.
   */
  dryRun?(
    from: string,
    meta: Meta,
    params: Record<string, string>,
    caller: Caller,
  ): Promise<RuntimeResult>;
  checkpoint(): Promise<string>;
  /**
   * Present only on runtimes whose state anyone may read (an AO process's memory, as AO's CU
   * serves it); the server answers `/vmm/state` with it and refuses the others with
   * err_state_not_public.
   */
  publicState?(): Promise<string>;
  /** What the spawn itself produced (an AO process evaluates its spawn message), if anything. */
  spawnResult?: RuntimeResult;
}

export type RuntimeFactory = (opts: {
  tags: Record<string, string>;
  state?: string;
  /** The whole `/vmm/spawn` or `/vmm/restore` body (pid, owner, data, tags, env). */
  request?: Record<string, unknown>;
}) => Promise<Runtime>;

/**
 * Who may send an action: anyone; the owner and the senders the spawn allows (its
 * `Allowed-Senders` tag, `*` for anyone); or the owner alone.
 */
export type Access = "open" | "senders" | "owner";

/** A runtime's access declaration; the runtime server enforces it before every apply and dry-run. */
export interface AccessRules {
  /** The action a message names, as the runtime reads it (aliases resolved). */
  action(meta: Meta, params: Record<string, string>): string;
  /** Access per action; actions not listed get `otherwise`. */
  actions: Readonly<Record<string, Access>>;
  otherwise: Access;
}

/** A runtime the server can run: how to make it and, optionally, who may send what (default: anyone). */
export interface RuntimeDefinition {
  create: RuntimeFactory;
  access?: AccessRules;
}

/** A runtime's failure whose text is the answer as it is (no "apply failed" prefix). */
export class RuntimeAnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RuntimeAnswerError";
  }
}
