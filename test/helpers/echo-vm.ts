import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeModuleFile } from "../../src/module/write.js";
import { moduleTags } from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import type { Vm, VmFactory } from "../../src/vm/contract.js";

export const ECHO_FORMAT = "test.echo.v0.0.1";
export const CLIENT_KEY = "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";

/**
 * A pure in-process VM for node tests: counts applies in memory and answers `<count>:<data>`,
 * so a result shows the order it was applied in. `Action=Fail` errors; `Action=Forward` sends
 * the data on to the process named by the `To` tag.
 */
export const echoFactory: VmFactory = async () => {
  let count = 0;
  const vm: Vm = {
    async apply(_from, meta) {
      count++;
      if (meta.Action === "Fail") return { Error: "asked to fail" };
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
    async checkpoint() {
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
