import { z } from "zod";
import { toB64Url } from "../protocol/base64url.js";
import { ProtocolError } from "../protocol/errors.js";
import { paramsFromTags, type Meta } from "../protocol/hymx.js";
import { checkTagLimits } from "../protocol/tags.js";
import type { Vm, VmResult } from "../vm/contract.js";
import type { ProcessTable } from "./processes.js";
import { tagOf } from "./vm-input.js";

/** AO's dry-run body (aoconnect's `dryrun`): an unsigned message. Unknown fields are ignored. */
export const DryRunSchema = z.object({
  Id: z.string().max(128).optional(),
  Owner: z.string().max(1024).optional(),
  Target: z.string().optional(),
  Anchor: z.string().optional(),
  Data: z.string().optional(),
  Tags: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
});
export type DryRunMessage = z.infer<typeof DryRunSchema>;

/**
 * The Meta a dry-run is evaluated with. Nothing in the body is signed, so: `Acc-Id` is the body's
 * Owner (AO reads "as" someone), `From-Process` is always empty whatever the tags say, and
 * `Encrypted-*` params are not decrypted (the node would otherwise decrypt any ciphertext for
 * anyone). Throws err_invalid_tags or `duplicate tag: X` for bad tags.
 */
export function dryRunMeta(
  pid: string,
  nonce: number,
  timestamp: number,
  msg: DryRunMessage,
): Meta {
  const tags = msg.Tags ?? [];
  checkTagLimits(tags);
  const data = msg.Data ?? "";
  return {
    "Item-Id": msg.Id ?? "",
    Pid: pid,
    "Acc-Id": msg.Owner ?? "",
    Action: tagOf(tags, "Action"),
    "From-Process": "",
    "Pushed-For": tagOf(tags, "Pushed-For"),
    Sequence: Number(tagOf(tags, "Sequence")) || 0,
    Nonce: nonce,
    Timestamp: timestamp,
    Params: paramsFromTags(tags, "Message", data),
    Data: toB64Url(Buffer.from(data, "utf8")),
  };
}

/**
 * Evaluates a dry-run on a VM that declares it can do so without effects (`Vm.dryRun`); any other
 * VM is refused with err_dry_run_unsupported rather than run for real.
 */
export function evaluateDryRun(vm: Vm | undefined, meta: Meta): Promise<VmResult> {
  if (!vm) return Promise.reject(new ProtocolError("err_process_not_found"));
  if (!vm.dryRun)
    return Promise.reject(
      new ProtocolError(
        "err_dry_run_unsupported",
        "this process's runtime cannot evaluate a message without effects; send a signed message",
      ),
    );
  return vm.dryRun(meta["Acc-Id"], meta);
}

export interface ProcessReadsDeps {
  procs: ProcessTable;
  clock: () => number;
}

/** Reads of a process's live state that change nothing: AO's dry run and `/state`, on the process's chain. */
export class ProcessReads {
  constructor(private readonly deps: ProcessReadsDeps) {}

  /**
   * AO dry run: evaluates an unsigned message on the process's current state, on VMs that can do
   * so without effects (see dry-run.ts); nothing is assigned, stored or emitted. Rejects with
   * err_process_not_found, err_process_stopped or err_dry_run_unsupported.
   */
  dryrun(pid: string, msg: DryRunMessage): Promise<VmResult> {
    const state = this.deps.procs.get(pid);
    if (!state || state.stopped)
      return Promise.reject(
        new ProtocolError(state ? "err_process_stopped" : "err_process_not_found"),
      );
    const meta = dryRunMeta(pid, state.env.Nonce + 1, this.deps.clock(), msg);
    return this.deps.procs.run(state, () => evaluateDryRun(state.vm, meta));
  }

  /** AO `/state`: the VM's state, from VMs whose state is public (`Vm.publicState`). */
  state(pid: string): Promise<string> {
    const state = this.deps.procs.get(pid);
    if (!state?.vm) return Promise.reject(new ProtocolError("err_process_not_found"));
    if (!state.vm.publicState) return Promise.reject(new ProtocolError("err_state_not_public"));
    return this.deps.procs.run(state, async () => {
      if (!state.vm?.publicState) throw new ProtocolError("err_state_not_public");
      return state.vm.publicState();
    });
  }
}
