import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { connect } from "@permaweb/aoconnect";
import { HymxClient } from "../../src/client/client.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { DataItem } from "../../src/protocol/data-item.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { IMAGES } from "../../src/runtime/images/builder.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { admin } from "../helpers/admin.js";
import { aoconnectSigner, aoModule, aoSpawnTags, evalLua, evalUntil } from "../helpers/ao.js";
import { vmdocker, vmdockerAsync } from "../helpers/cli.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { testClient } from "../helpers/engine.js";

// A user's own AO WASM module (its data is the WASM, AO's module shape) run by the node in the AO
// runtime with AO's loader: a counter written in C (test/fixtures/ao-counter.c), compiled here
// with Debian's emscripten, built into a module by the CLI, spawned by module id with aoconnect.
const docker = testClient();
const base = mkdtempSync(join(tmpdir(), "vmd-ao-wasm-"));
const signer = new EthereumSigner(CLIENT_KEY);
const source = fileURLToPath(new URL("../../../test/fixtures/ao-counter.c", import.meta.url));
const env = { VMDOCKER_KEY: CLIENT_KEY, VMDOCKER_PRIVATE_KEY: "" };
let running: RunningNode;
let client: HymxClient;
let counterModule: string;
let luaModule: string;
let wasmFile: string;

/**
 * The counter's WASM, compiled in vmdocker/emscripten with the flags of the runtime's own Lua
 * module (the loader's wasm32-unknown-emscripten2 glue); kept per source and toolchain image.
 */
async function counterWasm(): Promise<string> {
  const toolchain = await docker.inspectImage(IMAGES.emscripten);
  if (!toolchain) throw new Error(`${IMAGES.emscripten} is not built (vmdocker images build)`);
  const key = createHash("sha256")
    .update(readFileSync(source))
    .update(toolchain.Id)
    .digest("hex")
    .slice(0, 16);
  const dir = join(tmpdir(), `vmd-ao-counter-${key}`);
  const wasm = join(dir, "counter.wasm");
  if (existsSync(wasm)) return wasm;
  const work = mkdtempSync(`${dir}.build-`);
  copyFileSync(source, join(work, "counter.c"));
  await promisify(execFile)(
    "docker",
    [
      "run",
      "--rm",
      "--network=none",
      "-v",
      `${work}:/w`,
      "-w",
      "/w",
      IMAGES.emscripten,
      "emcc",
      "-O2",
      "counter.c",
      "-o",
      "counter.js",
      "-sASSERTIONS=1",
      "-sALLOW_MEMORY_GROWTH=1",
      "-sINITIAL_MEMORY=8388608",
      "-sMAXIMUM_MEMORY=524288000",
      "-sMODULARIZE=1",
      "-sEXPORTED_FUNCTIONS=_main,_handle,_malloc,_free,_fflush,___errno_location",
      "-sEXPORTED_RUNTIME_METHODS=cwrap",
    ],
    { env: { ...process.env, DOCKER_HOST: docker.address.display } },
  );
  try {
    renameSync(work, dir);
  } catch {
    rmSync(work, { recursive: true, force: true }); // another run compiled it at the same time
  }
  return wasm;
}

/** `vmdocker module build --ao --wasm` into the node's mod/; answers the CLI's run and the id. */
function buildWasmModule(wasm: string, ...flags: string[]) {
  const run = vmdocker(
    ["module", "build", "--ao", "--wasm", wasm, "--out", join(base, "mod"), "--json", ...flags],
    env,
  );
  const id = run.code === 0 ? (JSON.parse(run.stdout) as { id: string }).id : "";
  return { run, id };
}

before(async () => {
  const wasm = (wasmFile = await counterWasm());
  mkdirSync(join(base, "mod"), { recursive: true });
  const built = buildWasmModule(
    wasm,
    "--module-format",
    "wasm32-unknown-emscripten2",
    "--memory-limit",
    "16-mb",
    "--name",
    "counter",
  );
  assert.equal(built.run.code, 0, built.run.stderr);
  counterModule = built.id;
  const lua = await aoModule(docker, signer);
  copyFileSync(lua.file, join(base, "mod", basename(lua.file)));
  luaModule = lua.id;
  const cfg = loadConfig(undefined, {
    VMDOCKER_PORT: ":0",
    VMDOCKER_ADMIN_PORT: ":0",
    VMDOCKER_CHECKPOINT_INTERVAL: "0",
  });
  running = await startNode(cfg, { baseDir: base, vms: new VmRegistry(), log: () => {}, docker });
  client = new HymxClient({ url: running.url, signer });
});
after(async () => {
  await running?.close();
  rmSync(base, { recursive: true, force: true });
});

interface Ao {
  spawn(a: object): Promise<string>;
  message(a: object): Promise<string>;
  result(a: object): Promise<{
    Output?: unknown;
    Error?: unknown;
    Messages?: { Data?: string; Target?: string }[];
  }>;
}

test("a C module brought as an AO WASM module: aoconnect spawns it by module id, its memory counts messages, a restore keeps the count", async () => {
  const ao = connect({
    MODE: "legacy",
    MU_URL: running.url,
    CU_URL: running.url,
    GATEWAY_URL: running.url,
  }) as unknown as Ao;
  const pid = await ao.spawn({
    module: counterModule,
    scheduler: running.node.address,
    signer: aoconnectSigner(signer),
    tags: [{ name: "Name", value: "counter-1" }],
  });
  const spawned = await ao.result({ message: pid, process: pid });
  assert.equal(spawned.Error, undefined);
  assert.equal(spawned.Output, "counter 1", "the spawn message was the module's first");

  let sent = 0;
  const send = async () => {
    const id = await ao.message({
      process: pid,
      signer: aoconnectSigner(signer),
      tags: [{ name: "Action", value: "Count" }],
      data: `message ${++sent}`, // the node refuses a second item of the same content
    });
    return ao.result({ message: id, process: pid });
  };
  const second = await send();
  assert.equal(second.Output, "counter 2");
  assert.equal(second.Messages?.[0]?.Data, "counter 2");
  assert.equal(second.Messages?.[0]?.Target, signer.address, "the answer goes to the sender");

  assert.deepEqual(await admin(running, "/admin/vms/stop", pid), { id: pid, message: "stopped" });
  assert.deepEqual(await admin(running, "/admin/vms/resume", pid), { id: pid, message: "resumed" });
  assert.equal((await send()).Output, "counter 3", "the restored memory holds the count");
});

test("a Lua process sends to the C module and the module's answer lands in the Lua process's Inbox", async () => {
  const spawn = async (module: string, name: string) => {
    const item = DataItem.sign(
      { tags: aoSpawnTags(module, running.node.address, [{ name: "Name", value: name }]) },
      signer,
    );
    const pid = await client.submit(item);
    const r = await client.waitResult(pid, pid, 120_000);
    assert.equal(r.Error, "", r.Error);
    return pid;
  };
  const counter = await spawn(counterModule, "counter-2");
  const lua = await spawn(luaModule, "asker");
  const sent = await evalLua(client, lua, `Send({Target = "${counter}", Action = "Count"})`);
  assert.equal(sent.Error, "", sent.Error);
  const inbox = await evalUntil(
    client,
    lua,
    "#Inbox > 0 and Inbox[#Inbox].Data .. ' from ' .. Inbox[#Inbox].From or 'empty'",
    (t) => t !== "empty",
  );
  assert.equal(inbox, `counter 2 from ${counter}`);
});

test("Memory-Limit: a message that grows the memory past the module's limit fails, and so does every later one", async () => {
  const item = DataItem.sign(
    { tags: aoSpawnTags(counterModule, running.node.address, [{ name: "Name", value: "grow" }]) },
    signer,
  );
  const pid = await client.submit(item);
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  const grow = await client.waitResult(pid, await client.message({ pid, action: "Grow" }), 60_000);
  assert.match(
    String(grow.Error),
    /memory grew to \d+ bytes, past its module's Memory-Limit of 16777216 bytes/,
  );
  const next = await client.waitResult(pid, await client.message({ pid, action: "Count" }), 60_000);
  assert.match(String(next.Error), /Memory-Limit/);
});

test("module load of an AO WASM module checks its WASM and the AO runtime's image", () => {
  const load = vmdocker(["module", "load", counterModule, "--dir", base, "--json"], {
    DOCKER_HOST: docker.address.display,
  });
  assert.equal(load.code, 0, load.stderr);
  const out = JSON.parse(load.stdout) as { imageName: string; how: string; wasmBytes: number };
  assert.deepEqual(
    { imageName: out.imageName, how: out.how, wasmBytes: out.wasmBytes },
    { imageName: IMAGES["runtime-ao"], how: "present", wasmBytes: readFileSync(wasmFile).length },
  );
});

test("a module whose Module-Format AO's loader does not run is refused with one line: by the CLI, and at spawn", async () => {
  const wasm = await counterWasm();
  const cli = buildWasmModule(wasm, "--module-format", "wasm32-unknown-foo");
  assert.equal(cli.run.code, 1);
  assert.match(
    cli.run.stderr.trim(),
    /^vmdocker: Module-Format "wasm32-unknown-foo" is not one AO's loader runs \(wasm32-unknown-emscripten, [^\n]*\) \(fix: rebuild the module with --module-format set to the format its WASM was compiled for\)$/,
  );
  assert.equal(readdirSync(join(base, "mod")).filter((f) => f.includes("partial")).length, 0);

  // The same WASM signed with that format by another tool reaches the node's mod/ folder anyway.
  const foreign = DataItem.sign(
    {
      data: readFileSync(wasm),
      tags: [
        { name: "Data-Protocol", value: "ao" },
        { name: "Variant", value: "ao.TN.1" },
        { name: "Type", value: "Module" },
        { name: "Module-Format", value: "wasm32-unknown-foo" },
        { name: "Input-Encoding", value: "JSON-1" },
        { name: "Output-Encoding", value: "JSON-1" },
        { name: "Memory-Limit", value: "16-mb" },
        { name: "Compute-Limit", value: "1000" },
      ],
    },
    signer,
  );
  const file = join(base, "mod", `mod-${foreign.id}.json`);
  writeFileSync(file, JSON.stringify(foreign.toJSON()));
  const spawn = DataItem.sign(
    { tags: aoSpawnTags(foreign.id, running.node.address, [{ name: "Name", value: "foo" }]) },
    signer,
  );
  // hymx's envelope carries the code alone: the one line a client prints, with its hint.
  await assert.rejects(client.submit(spawn), /err_module_format_not_mounted/);
  const spawnCli = await vmdockerAsync(
    ["spawn", "--url", running.url, "--module", foreign.id, "--tag", "Name=foo"],
    env,
  );
  assert.equal(spawnCli.code, 1, spawnCli.stdout);
  assert.match(
    spawnCli.stderr.trim(),
    /^vmdocker: [^\n]*err_module_format_not_mounted[^\n]*\(fix: [^\n]*--module-format[^\n]*\)$/,
  );
  assert.equal(await client.nonce(spawn.id).catch(() => -1), -1, "no process was made");
});
