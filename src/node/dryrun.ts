import { toB64Url } from "../protocol/base64url.js";
import type { Cryptor } from "../protocol/ecies.js";
import { ProtocolError } from "../protocol/errors.js";
import { paramsFromTags, type Meta } from "../protocol/hymx.js";
import type { Tag } from "../protocol/tags.js";
import { DryRunUnsupportedError, type VmResult } from "../vm/contract.js";
import type { ProcessTable } from "./processes.js";
import { metaWithSecrets, tagOf } from "./vm-input.js";

export interface ProcessReadsDeps {
  procs: ProcessTable;
  cryptor?: Cryptor;
  clock: () => number;
}

/** Reads of a process's live state that change nothing: AO's dry run and `/state`, on the process's chain. */
export class ProcessReads {
  constructor(private readonly deps: ProcessReadsDeps) {}

  /**
   * AO dry run: evaluate a message against the process's current state without assigning,
   * storing or emitting anything; the VM's state is checkpointed before and restored after.
   * Rejects with err_process_not_found or err_process_stopped.
   */
  dryrun(
    pid: string,
    msg: { Id?: string; Owner?: string; Data?: string; Tags?: Tag[] },
  ): Promise<VmResult> {
    const state = this.deps.procs.get(pid);
    if (!state || state.stopped)
      return Promise.reject(
        new ProtocolError(state ? "err_process_stopped" : "err_process_not_found"),
      );
    const tags = msg.Tags ?? [];
    const data = msg.Data ?? "";
    const meta: Meta = {
      "Item-Id": msg.Id ?? "",
      Pid: pid,
      "Acc-Id": msg.Owner ?? "",
      Action: tagOf(tags, "Action"),
      "From-Process": tagOf(tags, "From-Process"),
      "Pushed-For": tagOf(tags, "Pushed-For"),
      Sequence: Number(tagOf(tags, "Sequence")) || 0,
      Nonce: state.env.Nonce + 1,
      Timestamp: this.deps.clock(),
      Params: paramsFromTags(tags, "Message", data),
      Data: toB64Url(Buffer.from(data, "utf8")),
    };
    return this.deps.procs.run(state, async () => {
      const vm = state.vm;
      if (!vm) throw new ProtocolError("err_process_not_found");
      const from = meta["From-Process"] || meta["Acc-Id"];
      // A VM that evaluates without effects (an AO process, on a copy of its memory) does it itself.
      if (vm.dryrun) {
        try {
          return await vm.dryrun(from, metaWithSecrets(meta, this.deps.cryptor));
        } catch (err) {
          if (!(err instanceof DryRunUnsupportedError)) throw err;
        }
      }
      const saved = await vm.checkpoint();
      try {
        return await vm.apply(from, metaWithSecrets(meta, this.deps.cryptor));
      } finally {
        await vm.restore(saved);
      }
    });
  }

  /** AO `/state`: the VM's current state as its checkpoint string. */
  state(pid: string): Promise<string> {
    const state = this.deps.procs.get(pid);
    if (!state?.vm) return Promise.reject(new ProtocolError("err_process_not_found"));
    return this.deps.procs.run(state, async () => {
      if (!state.vm) throw new ProtocolError("err_process_not_found");
      return state.vm.checkpoint();
    });
  }
}
