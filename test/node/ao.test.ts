import assert from "node:assert/strict";
import { generateKeyPairSync, type JsonWebKey } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { connect, createSigner } from "@permaweb/aoconnect";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { CLIENT_KEY, ECHO_FORMAT, echoFactory } from "../helpers/echo-vm.js";

// AO's own JS client, legacy mode, with MU_URL = CU_URL = GATEWAY_URL = the node.
const base = mkdtempSync(join(tmpdir(), "vmd-ao-"));
let running: RunningNode;
interface AoResult {
  Output?: unknown;
  Error?: unknown;
}
interface AoPage {
  edges: { cursor: string; node: AoResult }[];
}
/** The part of aoconnect's API this test drives. */
interface Ao {
  spawn(a: object): Promise<string>;
  message(a: object): Promise<string>;
  result(a: object): Promise<AoResult>;
  results(a: object): Promise<AoPage>;
  dryrun(a: object): Promise<AoResult>;
}
let ao: Ao;
let moduleId: string;

before(async () => {
  // An AO-style module (aoconnect's spawn checks these tags through the gateway's GraphQL).
  const mod = DataItem.sign(
    {
      tags: [
        { name: "Data-Protocol", value: "ao" },
        { name: "Variant", value: "ao.TN.1" },
        { name: "Type", value: "Module" },
        { name: "Module-Format", value: ECHO_FORMAT },
        { name: "Input-Encoding", value: "JSON-1" },
        { name: "Output-Encoding", value: "JSON-1" },
      ],
    },
    new EthereumSigner(CLIENT_KEY),
  );
  mkdirSync(join(base, "mod"), { recursive: true });
  writeFileSync(join(base, "mod", `mod-${mod.id}.json`), JSON.stringify(mod.toJSON()));
  moduleId = mod.id;
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, echoFactory);
  running = await startNode(loadConfig(undefined, { VMDOCKER_PORT: ":0" }), {
    baseDir: base,
    vms,
    log: () => {},
  });
  ao = connect({
    MODE: "legacy",
    MU_URL: running.url,
    CU_URL: running.url,
    GATEWAY_URL: running.url,
  }) as unknown as Ao;
});
after(async () => running?.close());

/** An Ethereum signer in aoconnect's signer protocol (create → deep hash → raw signature). */
function ethereumSigner() {
  const key = new EthereumSigner(CLIENT_KEY);
  return async (create: (o: { type: number; publicKey: Buffer }) => Promise<Uint8Array>) => {
    const deepHash = await create({ type: 3, publicKey: key.owner });
    return { signature: key.sign(deepHash), address: key.address };
  };
}

const jwk = generateKeyPairSync("rsa", {
  modulusLength: 4096,
  publicExponent: 65537,
}).privateKey.export({ format: "jwk" }) as JsonWebKey;

for (const [kind, makeSigner] of [
  ["arweave", () => createSigner(jwk)],
  ["ethereum", () => ethereumSigner()],
] as const) {
  test(`aoconnect (${kind} key): spawn, message, result, results and dryrun against the node`, async () => {
    const signer = makeSigner();
    const pid: string = await ao.spawn({
      module: moduleId,
      scheduler: running.node.address,
      signer,
      tags: [{ name: "Name", value: "ao-test" }],
    });
    assert.match(pid, /^[A-Za-z0-9_-]{43}$/);
    const spawned = await ao.result({ message: pid, process: pid });
    assert.equal(spawned.Error, undefined);

    const msgId: string = await ao.message({
      process: pid,
      signer,
      tags: [{ name: "Action", value: "Echo" }],
      data: "hi",
    });
    const res = await ao.result({ message: msgId, process: pid });
    assert.equal(res.Output, "1:hi");

    const dry = await ao.dryrun({
      process: pid,
      tags: [{ name: "Action", value: "Echo" }],
      data: "dry",
    });
    assert.equal(dry.Output, "2:dry", "a dry run sees the current state");
    const after = await ao.message({
      process: pid,
      signer,
      tags: [{ name: "Action", value: "Echo" }],
      data: "again",
    });
    assert.equal(
      (await ao.result({ message: after, process: pid })).Output,
      "2:again",
      "the dry run changed nothing",
    );

    const page = await ao.results({ process: pid, sort: "ASC", limit: 10 });
    assert.deepEqual(
      page.edges.map((e) => e.node.Output),
      ["", "1:hi", "2:again"],
    );
    const next = await ao.results({
      process: pid,
      from: page.edges[0]!.cursor,
      sort: "ASC",
      limit: 1,
    });
    assert.deepEqual(
      next.edges.map((e) => e.node.Output),
      ["1:hi"],
    );
    const desc = await ao.results({ process: pid, sort: "DESC", limit: 1 });
    assert.equal(desc.edges[0]!.node.Output, "2:again");

    const state = await (await fetch(`${running.url}/state/${pid}`)).text();
    assert.deepEqual(JSON.parse(state), { count: 2 });
  });
}
