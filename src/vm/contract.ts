import { VmdError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Env, Meta, Result } from "../protocol/hymx.js";

/** What a VM's Apply returns inside the node: upstream's Result, with Error as a message. */
export type VmResult = Omit<Result, "Error"> & { Error?: string };

/** The hymx VM contract: a VM per process, mounted per Module-Format. */
export interface Vm {
  apply(from: string, meta: Meta): Promise<VmResult>;
  /**
   * Applies several messages in order in one call, where the VM can: one result each, in the
   * same order. Resolves null when it cannot (the node then applies them one by one). Throws
   * VmGoneError like `apply`.
   */
  applyBatch?(calls: { from: string; meta: Meta }[]): Promise<VmResult[] | null>;
  checkpoint(): Promise<string>;
  restore(data: string): Promise<void>;
  close(): Promise<void>;
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
