import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import { buildAoWasmModule } from "../../src/module/ao-wasm.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";

// A module put into a running node's mod/ folder is found by the gateway GraphQL without a
// restart (what `vmdocker ao connect NAME` asks before it spawns).
const base = mkdtempSync(join(tmpdir(), "vmd-gqlmod-"));
const elsewhere = mkdtempSync(join(tmpdir(), "vmd-gqlmod-out-"));
let running: RunningNode;

before(async () => {
  mkdirSync(join(base, "mod"));
  running = await startNode(loadConfig(undefined, { VMDOCKER_PORT: ":0" }), {
    baseDir: base,
    vms: new VmRegistry(),
    log: () => {},
  });
});
after(async () => {
  await running?.close();
  rmSync(base, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

async function modulesNamed(name: string): Promise<string[]> {
  const res = await fetch(`${running.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: `query ($name: String!) { transactions(first: 10, sort: HEIGHT_DESC, tags: [
        { name: "Type", values: ["Module"] }, { name: "Name", values: [$name] }
      ]) { edges { node { id } } } }`,
      variables: { name },
    }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as {
    data: { transactions: { edges: { node: { id: string } }[] } };
  };
  return body.data.transactions.edges.map((e) => e.node.id);
}

test("a module file copied into mod/ of a running node is found by GraphQL at the next query", async () => {
  assert.deepEqual(await modulesNamed("web.added-later"), []);
  const wasm = join(elsewhere, "p.wasm");
  writeFileSync(wasm, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  const built = await buildAoWasmModule({
    wasm,
    signer: new EthereumSigner(CLIENT_KEY),
    outDir: elsewhere,
    name: "web.added-later",
  });
  copyFileSync(built.file, join(base, "mod", basename(built.file)));
  assert.deepEqual(await modulesNamed("web.added-later"), [built.id]);
  assert.deepEqual(await modulesNamed("web.added-later"), [built.id], "indexed once");
});
