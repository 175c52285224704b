import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DataItem } from "../protocol/data-item.js";
import { moduleTags, processTags } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import { REGISTRY_FORMAT } from "../vm/core/registry.js";
import { TOKEN_FORMAT } from "../vm/core/token.js";
import type { HymxNode } from "./node.js";

function writeCoreModule(baseDir: string, signer: Signer, format: string): string {
  const item = DataItem.sign({ tags: moduleTags({ moduleFormat: format }) }, signer);
  mkdirSync(join(baseDir, "mod"), { recursive: true });
  writeFileSync(join(baseDir, "mod", `mod-${item.id}.json`), JSON.stringify(item.toJSON()));
  return item.id;
}

/**
 * A fresh node spawns its own token and registry, so one node works out of the box (upstream
 * needs a manual `examples init`). The node is the spawner: it holds the genesis balance and is
 * the registry's main node.
 */
export async function bootstrapCore(
  node: HymxNode,
  signer: Signer,
  baseDir: string,
  info: { Name: string; Desc: string; URL: string },
): Promise<void> {
  const spawn = async (format: string, params: { name: string; value: string }[]) => {
    const module = writeCoreModule(baseDir, signer, format);
    const item = DataItem.sign(
      {
        data: String(Date.now()),
        tags: [
          { name: "SDK-Timestamp", value: String(Date.now() * 1e6) },
          ...processTags({ module, scheduler: node.address, params }),
        ],
      },
      signer,
    );
    await node.submit(item.encode());
    await node.settled();
    return item.id;
  };
  if (!node.core.token) await spawn(TOKEN_FORMAT, [{ name: "Name", value: "tAX" }]);
  if (!node.core.registry) {
    await spawn(REGISTRY_FORMAT, [
      { name: "Token-Pid", value: node.core.token! },
      { name: "Name", value: info.Name },
      { name: "Desc", value: info.Desc },
      { name: "URL", value: info.URL },
    ]);
  }
}
