import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, describe, test } from "node:test";
import { OPENCLAW_ACCESS } from "../../src/runtimes/openclaw-access.js";
import type { RuntimeDefinition, RuntimeResult } from "../../src/runtimes/runtime.js";
import { createRuntimeServer, RUNTIMES } from "../../src/runtimes/server.js";

// The owner/signer rule of the in-instance /vmm server, over real HTTP: OpenClaw's declaration
// (with a runtime that records what reaches it instead of a gateway) and the test runtime.
const OWNER = "0x972AeD684D6f817e1b58AF70933dF1b4a75bfA51";
const OTHER = "0x1111111111111111111111111111111111111111";
const FRIEND = "0x2222222222222222222222222222222222222222";

const reached: string[] = [];
const recording: RuntimeDefinition = {
  access: OPENCLAW_ACCESS,
  create: async () => ({
    async apply(_from, meta) {
      reached.push(String(meta.Action));
      const r: RuntimeResult = {
        Messages: [],
        Spawns: [],
        Assignments: [],
        Output: null,
        Data: "done",
        Cache: null,
        Error: null,
      };
      return r;
    },
    async checkpoint() {
      return "{}";
    },
  }),
};

async function serve(type: string, runtimes = RUNTIMES) {
  const server = createRuntimeServer(type, runtimes);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (route: string, body: object) => {
    const res = await fetch(`${base}/vmm/${route}`, { method: "POST", body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as { error?: string; result?: string } };
  };
  return call;
}

const msg = (action: string, from: string, extra: object = {}) => ({
  meta: { Action: action, "Acc-Id": from, Params: {} },
  from,
  params: {},
  ...extra,
});

describe("OpenClaw's declaration, enforced by the runtime server", () => {
  test("configuration and pairing are the owner's: anyone else gets err_unauthorized and the runtime never sees it", async () => {
    const call = await serve("openclaw", { openclaw: recording });
    assert.equal((await call("spawn", { owner: OWNER, tags: [] })).status, 200);
    for (const action of [
      "Config",
      "ConfigureModel",
      "ConfigureTelegram",
      "ApprovePairing",
      "setconfig",
      "CreateSession",
    ]) {
      const r = await call("apply", msg(action, OTHER));
      assert.equal(r.status, 400, action);
      assert.match(r.body.error ?? "", /^err_unauthorized: \w+ is for the process owner/, action);
    }
    assert.deepEqual(reached, []);
    assert.equal((await call("apply", msg("Config", OWNER))).status, 200);
    assert.equal(
      (await call("apply", msg("ConfigureModel", OWNER.toLowerCase()))).status,
      200,
      "an Ethereum address in any case",
    );
    assert.equal((await call("apply", msg("Ping", OTHER))).status, 200, "Ping is open");
    const chat = await call("apply", msg("Chat", OTHER));
    assert.match(
      chat.body.error ?? "",
      /^err_unauthorized: Chat is for the process owner and the spawn's Allowed-Senders/,
    );
    assert.deepEqual(reached, ["Config", "ConfigureModel", "Ping"]);
  });

  test("Allowed-Senders opens chat to the senders it names (or to anyone with *), never configuration", async () => {
    const call = await serve("openclaw", { openclaw: recording });
    const tags = [
      { name: "Allowed-Senders", value: `${FRIEND.toUpperCase().replace("0X", "0x")}, someone` },
    ];
    assert.equal((await call("spawn", { owner: OWNER, tags })).status, 200);
    assert.equal((await call("apply", msg("Chat", FRIEND))).status, 200);
    assert.equal((await call("apply", msg("query", FRIEND))).status, 200, "aliases too");
    assert.equal((await call("apply", msg("Chat", OTHER))).status, 400);
    assert.equal((await call("apply", msg("ConfigureTelegram", FRIEND))).status, 400);
    const open = await serve("openclaw", { openclaw: recording });
    await open("spawn", { owner: OWNER, tags: [{ name: "Allowed-Senders", value: "*" }] });
    assert.equal((await open("apply", msg("Chat", OTHER))).status, 200, "open chat");
    assert.equal((await open("apply", msg("Config", OTHER))).status, 400);
  });

  test("a restore keeps the owner (from the body, else the env's Acc-Id); a node that names no owner leaves owner-only actions closed", async () => {
    const restored = await serve("openclaw", { openclaw: recording });
    const env = { Meta: { "Acc-Id": OWNER }, Process: { Tags: [] } };
    assert.equal((await restored("restore", { env, tags: [], state: "{}" })).status, 200);
    assert.equal((await restored("apply", msg("Config", OWNER))).status, 200);
    assert.equal((await restored("apply", msg("Config", OTHER))).status, 400);
    const unnamed = await serve("openclaw", { openclaw: recording });
    await unnamed("spawn", { tags: [] });
    assert.equal((await unnamed("apply", msg("Config", OWNER))).status, 400);
  });

  test("a dry-run has no sender: a runtime without dryRun is refused, whatever Owner the body claims", async () => {
    const call = await serve("openclaw", { openclaw: recording });
    await call("spawn", { owner: OWNER, tags: [{ name: "Allowed-Senders", value: "*" }] });
    const before = reached.length;
    const r = await call("dryrun", msg("Chat", OWNER));
    assert.equal(r.status, 400);
    assert.match(r.body.error ?? "", /^err_dry_run_unsupported/);
    assert.equal(reached.length, before);
  });
});

describe("the test runtime", () => {
  test("Echo is open to any sender; a dry-run answers what the next apply would, and changes nothing", async () => {
    const call = await serve("test");
    await call("spawn", { owner: OWNER, tags: [] });
    const count = async (route: string, from: string) => {
      const r = await call(route, { ...msg("Echo", from), params: { Data: "x" } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (JSON.parse(r.body.result!) as { Output: { count: number } }).Output.count;
    };
    assert.equal(await count("apply", OTHER), 1);
    assert.equal(await count("dryrun", OWNER), 2);
    assert.equal(await count("dryrun", OTHER), 2, "the dry-run changed nothing");
    assert.equal(await count("apply", OWNER), 2);
  });
});
