import { VmdError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Env, Meta, Result } from "../protocol/hymx.js";

/** What a VM's Apply returns inside the node: upstream's Result, with Error as a message. */
export type VmResult = Omit<Result, "Error"> & { Error?: string };

/** The hymx VM contract: a VM per process, mounted per Module-Format. */
export interface Vm {
  /**
   * Applies a signed, ordered message. `from` is its sender as the node established it from
   * signatures: the From-Process it carries (signed by a node serving that process) or its
   * signer's address (`meta["Acc-Id"]`).
   */
  apply(from: string, meta: Meta): Promise<VmResult>;
  /**
   * A VM that can evaluate a message without effects (no state change, nothing sent or called
   * outside) declares it by having this; the node refuses dry-runs of the others with
   * err_dry_run_unsupported (a VM that finds out only when asked, e.g. from its runtime, throws
   * ProtocolError err_dry_run_unsupported). An AO process evaluates on a copy of its memory. `from` and `meta["Acc-Id"]` come from an unsigned request: use them to
   * read as someone, never to grant what only a signer may do. `meta["From-Process"]` is empty.
   */
  dryRun?(from: string, meta: Meta): Promise<VmResult>;
  /**
   * Applies several messages in order in one call, where the VM can: one result each, in the
   * same order. Resolves null when it cannot (the node then applies them one by one). Throws
   * VmGoneError like `apply`.
   */
  applyBatch?(calls: { from: string; meta: Meta }[]): Promise<VmResult[] | null>;
  checkpoint(): Promise<string>;
  /**
   * The process's state for anyone to read (AO's `/state`). Left out by VMs whose state may hold
   * secrets (a container's workspace); the node then answers err_state_not_public.
   */
  publicState?(): Promise<string>;
  restore(data: string): Promise<void>;
  close(): Promise<void>;
  /** What the spawn itself produced (an AO process evaluates its spawn message), once spawned. */
  spawnResult?: VmResult;
}

/**
 * A dry-run for VMs whose whole state is in memory and whose `checkpoint`/`restore` are exact:
 * checkpoint, run, restore. Whatever `run` returns is the answer; nothing it changed remains.
 */
export async function evaluateOnCopy(vm: Vm, run: () => Promise<VmResult>): Promise<VmResult> {
  const saved = await vm.checkpoint();
  try {
    return await run();
  } finally {
    await vm.restore(saved);
  }
}

/**
 * Makes the VM of a process. With `restoring`, the node calls `restore` next: a VM may then skip
 * starting what the checkpoint replaces (vmdocker starts no container until the restore).
 */
export type VmFactory = (env: Env, opts?: { restoring?: boolean }) => Promise<Vm>;

/** Thrown by a VM whose instance died (container killed, host rebooted): the node brings it back and retries. */
export class VmGoneError extends VmdError {
  constructor(why: string) {
    super("err_instance_gone", `the process's instance is gone: ${why}`);
  }
}

export class VmRegistry {
  private readonly factories = new Map<string, VmFactory>();

  mount(format: string, factory: VmFactory): void {
    if (this.factories.has(format)) throw new ProtocolError("err_factory_already_mounted", format);
    this.factories.set(format, factory);
  }

  get(format: string): VmFactory | undefined {
    return this.factories.get(format);
  }

  formats(): string[] {
    return [...this.factories.keys()];
  }
}
