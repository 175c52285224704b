import { ProtocolError } from "../protocol/errors.js";
import type { Env, Meta, Result } from "../protocol/hymx.js";

/** What a VM's Apply returns inside the node: upstream's Result, with Error as a message. */
export type VmResult = Omit<Result, "Error"> & { Error?: string };

/** The hymx VM contract: a VM per process, mounted per Module-Format. */
export interface Vm {
  apply(from: string, meta: Meta): Promise<VmResult>;
  checkpoint(): Promise<string>;
  restore(data: string): Promise<void>;
  close(): Promise<void>;
  /**
   * Evaluates without effects: nothing kept, nothing sent (an AO process evaluates on a copy of its
   * memory). Throws DryRunUnsupportedError when the VM cannot; VMs without it are not asked.
   */
  dryrun?(from: string, meta: Meta): Promise<VmResult>;
  /** What the spawn itself produced (an AO process evaluates its spawn message), once spawned. */
  spawnResult?: VmResult;
}

/** The VM (or its runtime) cannot evaluate a message without effects. */
export class DryRunUnsupportedError extends Error {
  constructor() {
    super("err_dryrun_unsupported");
    this.name = "DryRunUnsupportedError";
  }
}

/**
 * Makes the VM of a process. With `restoring`, the node calls `restore` next: a VM may then skip
 * starting what the checkpoint replaces (vmdocker starts no container until the restore).
 */
export type VmFactory = (env: Env, opts?: { restoring?: boolean }) => Promise<Vm>;

/** Thrown by a VM whose instance died (container killed, host rebooted): the node brings it back and retries. */
export class VmGoneError extends Error {
  constructor(why: string) {
    super(`the process's instance is gone: ${why}`);
    this.name = "VmGoneError";
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
