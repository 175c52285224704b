import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeModuleFile } from "../../src/module/write.js";
import { moduleTags } from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { evaluateOnCopy, VmGoneError, type Vm, type VmFactory } from "../../src/vm/contract.js";

/** Processes whose instance has "died" once (`Action=Die`), so a replay does not die again. */
const died = new Set<string>();

export const ECHO_FORMAT = "test.echo.v0.0.1";
export const CLIENT_KEY = "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";

/**
 * A pure in-process VM for node tests: counts applies in memory and answers `<count>:<data>`,
 * so a result shows the order it was applied in. `Action=Fail` errors; `Action=Forward` sends
 * the data on to the process named by the `To` tag; `Param` / `SpawnTag` answer the message
 * param / spawn tag named by `Name` (hashed). It dry-runs on a copy of its count; its state is
 * public. `Slow` answers after `Ms` milliseconds. A process spawned with `Batch=yes` takes
 * batches (`applyBatch`); `Calls` answers how many batch calls it had. A spawn tag
 * `Spawn-Fail=<reason>` makes the VM's creation throw that reason. `Die` (once per process)
 * makes its next apply throw VmGoneError, as a killed container does: the node revives it.
 */
export const echoFactory: VmFactory = async (env) => {
  const fail = (env.Process.Tags ?? []).find((t) => t.name === "Spawn-Fail")?.value;
  if (fail) throw new Error(fail);
  let count = 0;
  let batchCalls = 0;
  let dying = false;
  const vm: Vm = {
    async apply(_from, meta) {
      if (dying) throw new VmGoneError("the echo instance died");
      count++;
      if (meta.Action === "Die" && !died.has(env.Meta.Pid)) {
        died.add(env.Meta.Pid);
        dying = true;
      }
      if (meta.Action === "Fail") return { Error: "asked to fail" };
      if (meta.Action === "Slow") await new Promise((r) => setTimeout(r, Number(meta.Params.Ms)));
      if (meta.Action === "Calls") return { Data: String(batchCalls) };
      // What the VM was given (as a SHA-256, so results never hold it): a message param, or a
      // spawn tag, named by the Name tag.
      const sha = (v: string | undefined) =>
        createHash("sha256")
          .update(v ?? "")
          .digest("hex");
      if (meta.Action === "Param") return { Data: sha(meta.Params[meta.Params.Name ?? ""]) };
      if (meta.Action === "SpawnTag")
        return {
          Data: sha((env.Process.Tags ?? []).find((t) => t.name === meta.Params.Name)?.value),
        };
      const data = `${count}:${meta.Params.Data ?? ""}`;
      const messages =
        meta.Action === "Forward" && meta.Params.To
          ? [
              {
                Target: meta.Params.To,
                Data: data,
                Tags: [
                  { name: "Action", value: "Echo" },
                  { name: "Data-Protocol", value: "evil" },
                ],
              },
            ]
          : [];
      return { Data: data, Messages: messages, Cache: { count: String(count) } };
    },
    dryRun(from, meta) {
      return evaluateOnCopy(vm, () => vm.apply(from, meta));
    },
    ...((env.Process.Tags ?? []).some((t) => t.name === "Batch" && t.value === "yes")
      ? {
          async applyBatch(calls) {
            batchCalls++;
            const out = [];
            for (const c of calls) out.push(await vm.apply(c.from, c.meta));
            return out;
          },
        }
      : {}),
    async checkpoint() {
      return JSON.stringify({ count });
    },
    async publicState() {
      return JSON.stringify({ count });
    },
    async restore(s) {
      count = (JSON.parse(s) as { count: number }).count;
    },
    async close() {},
  };
  return vm;
};

/** Writes a module file of the echo format into `<baseDir>/mod` and returns its id. */
export async function writeEchoModule(baseDir: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "vmd-echo-"));
  const payload = join(dir, "payload");
  writeFileSync(payload, "echo");
  const mod = await writeModuleFile(
    join(baseDir, "mod"),
    new EthereumSigner(CLIENT_KEY),
    moduleTags({ moduleFormat: ECHO_FORMAT }),
    {
      file: payload,
      length: 4,
      sha384: createHash("sha384").update("echo").digest(),
    },
  );
  return mod.id;
}
