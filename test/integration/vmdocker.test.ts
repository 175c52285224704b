import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { HymxClient } from "../../src/client/client.js";
import { buildModule } from "../../src/module/build.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { hasCapSysResource } from "../../src/sys/kernel.js";
import type { Env } from "../../src/protocol/hymx.js";
import type { Tag } from "../../src/protocol/tags.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { vmdocker, VMDOCKER_VM_FORMAT } from "../../src/vm/vmdocker/vm.js";
import { postDryRun } from "../helpers/client.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { admin as callAdmin } from "../helpers/admin.js";
import { testClient } from "../helpers/engine.js";
import { buildTestModule } from "../helpers/test-module.js";
import { filesHolding } from "../helpers/secrets.js";

// End to end against the real engine: node → container → /vmm runtime (the `test` runtime image).
const docker = testClient();
const base = mkdtempSync(join(tmpdir(), "vmd-vmdocker-"));
let running: RunningNode;
let client: HymxClient;
let moduleId: string;
let moduleFile: string;
let moduleTags: Tag[];
/** The node's log lines (warnings start `warning: `). */
const logLines: string[] = [];

/** A node on `dir` (free ports) whose log lines go to `lines`. */
function nodeOn(dir: string, lines: string[]) {
  const cfg = loadConfig(undefined, { VMDOCKER_PORT: ":0", VMDOCKER_ADMIN_PORT: ":0" });
  return startNode(cfg, { baseDir: dir, vms: new VmRegistry(), log: (l) => lines.push(l), docker });
}
const clientOf = (node: RunningNode) =>
  new HymxClient({ url: node.url, signer: new EthereumSigner(CLIENT_KEY) });

before(async () => {
  const mod = await buildTestModule(docker, base);
  moduleId = mod.id;
  moduleFile = mod.file;
  moduleTags = mod.tags;
  running = await nodeOn(base, logLines);
  client = clientOf(running);
});
after(async () => running?.close());

/** Where the container sees its workspace (a warm-pool container keeps its pool path inside). */
const workspaceInside = (info: { Config: { Env?: string[] } }) =>
  info.Config.Env!.find((e) => e.startsWith("VMDOCKER_RUNTIME_WORKSPACE="))!.split("=")[1]!;

async function send(pid: string, action: string, data = "", via = client) {
  const id = await via.message({ pid, action, data });
  return via.waitResult(pid, id, 60_000);
}

test("spawn the test module: Ping → Pong, Echo round trip, results; the container is locked down", async () => {
  const pid = await client.spawn({
    module: moduleId,
    tags: [
      { name: "Container-Env-GREETING", value: "hi" },
      { name: "Limit-Memory-MB", value: "256" },
    ],
  });
  const spawned = await client.waitResult(pid, pid, 120_000);
  assert.equal(spawned.Error, "", spawned.Error);

  const pong = await send(pid, "Ping");
  assert.equal(pong.Data, "Pong");
  assert.equal(pong.Error, "");
  const echo = await send(pid, "Echo", "hello container");
  assert.equal(echo.Data, "hello container");
  assert.equal((echo.Output as { count: number }).count, 2);
  const results = await client.results(pid, 10);
  assert.deepEqual(
    results.map((r) => r.Data),
    ["", "Pong", "hello container"],
  );

  // Messages that arrive together reach the runtime in batches (/vmm/apply-batch), in nonce order.
  const burst = await Promise.all(
    Array.from({ length: 30 }, (_, i) => client.message({ pid, action: "Echo", data: `b${i}` })),
  );
  for (const id of burst) {
    const r = await client.waitResult(pid, id, 60_000);
    const at = (await running.store.locate(id))!;
    assert.equal(r.Error, "");
    assert.equal((r.Output as { count: number }).count, at.nonce, "applied as its nonce says");
  }

  const info = await docker.inspectContainer(`hymatrix_${pid}`);
  assert.equal(info.HostConfig.ReadonlyRootfs, true);
  assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
  assert.ok(info.HostConfig.SecurityOpt?.includes("no-new-privileges:true"));
  assert.equal(info.HostConfig.Memory, 256 * 2 ** 20);
  assert.equal(info.HostConfig.PidsLimit, 256);
  const binding = info.HostConfig.PortBindings?.["8080/tcp"]?.[0];
  assert.equal(binding?.HostIp, "127.0.0.1", "the runtime port is published on loopback only");
  assert.ok(info.Config.Env?.includes("GREETING=hi"), "Container-Env-* spawn tags become env");
  const ws = join(base, "sandbox_workspace", pid);
  assert.ok(info.Config.Env?.includes(`HOME=${join(ws, ".home")}`));
  assert.equal(info.Config.User, "vmd");

  const outside = await docker.exec(info.Id, ["sh", "-c", "echo x > /x"]);
  assert.notEqual(outside.exitCode, 0, "writing outside the workspace fails");
  const inside = await docker.exec(info.Id, [
    "sh",
    "-c",
    `echo x > ${ws}/workspace/note && cat ${ws}/workspace/note`,
  ]);
  assert.equal(inside.exitCode, 0, inside.stderr);
  assert.ok(existsSync(join(ws, "workspace", "note")), "the workspace is the host folder");
});

test("the test runtime: Echo answers any signer, a dry-run evaluates without effects, and a container's state is not public", async () => {
  const pid = await client.spawn({ module: moduleId });
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  const stranger = new HymxClient({
    url: running.url,
    signer: new EthereumSigner(randomBytes(32).toString("hex")),
  });
  const id = await stranger.message({ pid, action: "Echo", data: "from another key" });
  const echo = await stranger.waitResult(pid, id, 60_000);
  assert.equal(echo.Error, "");
  assert.equal(echo.Data, "from another key");
  const output = echo.Output as { from: string; count: number };
  assert.equal(output.from, stranger.address, "the runtime sees who signed");
  const dry = await postDryRun<{ Data: string; Output: { count: number } }>(running.url, pid, {
    Owner: client.address,
    Data: "dry",
    Tags: [{ name: "Action", value: "Echo" }],
  });
  assert.equal(dry.status, 200);
  assert.deepEqual([dry.body.Data, dry.body.Output.count], ["dry", 2]);
  const after = await send(pid, "Echo", "after the dry-run");
  assert.equal((after.Output as { count: number }).count, 2, "the dry-run changed nothing");
  const state = await fetch(`${running.url}/state/${pid}`);
  assert.deepEqual(
    [state.status, ((await state.json()) as { error: string }).error],
    [400, "err_state_not_public"],
    "the workspace (which can hold the process's secrets) is not served to anyone",
  );
});

/**
 * The runtime server behind upstream's route set (no /vmm/apply-batch: 404, as gin answers an
 * unknown route), logging each route it is asked for: what an upstream runtime looks like.
 */
const UPSTREAM_ROUTES = `/usr/local/bin/node --input-type=module -e "
import { createServer } from 'node:http';
import { createRuntimeServer } from '/app/runtimes/server.js';
const inner = createRuntimeServer('test');
createServer((req, res) => {
  console.log('route ' + req.url);
  if (req.url !== '/vmm/apply-batch') return inner.emit('request', req, res);
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('404 page not found');
}).listen(8080, '0.0.0.0');"`;

test("a runtime without /vmm/apply-batch (upstream's routes): messages that arrive together are applied one by one, in nonce order, after one 404", async () => {
  const pid = await client.spawn({
    module: moduleId,
    tags: [{ name: "Start-Command", value: UPSTREAM_ROUTES }],
  });
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  const burst = await Promise.all(
    Array.from({ length: 30 }, (_, i) => client.message({ pid, action: "Echo", data: `u${i}` })),
  );
  for (const [i, id] of burst.entries()) {
    const r = await client.waitResult(pid, id, 60_000);
    const at = (await running.store.locate(id))!;
    assert.equal(r.Error, "");
    assert.equal(r.Data, `u${i}`);
    assert.equal((r.Output as { count: number }).count, at.nonce, "applied as its nonce says");
  }
  const routes = [...(await docker.logs(`hymatrix_${pid}`)).matchAll(/^route (\S+)/gm)].map(
    (m) => m[1],
  );
  assert.equal(routes.filter((r) => r === "/vmm/apply").length, 30, "each message on its own");
  assert.equal(
    routes.filter((r) => r === "/vmm/apply-batch").length,
    1,
    "the batch route is tried once and never again after its 404",
  );
});

test("workspace checkpoint: admin stop and resume keep the in-memory count and the workspace files", async () => {
  const pid = await client.spawn({ module: moduleId });
  await client.waitResult(pid, pid, 120_000);
  await send(pid, "Echo", "a");
  await send(pid, "Echo", "b");
  const ws = join(base, "sandbox_workspace", pid);
  const info = await docker.inspectContainer(`hymatrix_${pid}`);
  await docker.exec(info.Id, ["sh", "-c", `echo kept > ${workspaceInside(info)}/workspace/file`]);
  assert.equal(readFileSync(join(ws, "workspace", "file"), "utf8"), "kept\n");
  const admin = (path: string, pidArg: string) =>
    fetch(`${running.adminUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${running.adminToken}` },
      body: JSON.stringify({ pid: pidArg }),
    }).then((r) => r.json());
  assert.deepEqual(await admin("/admin/vms/stop", pid), { id: pid, message: "stopped" });
  assert.equal(await docker.findContainer(`hymatrix_${pid}`), null, "stop removes the container");
  assert.deepEqual(await admin("/admin/vms/resume", pid), { id: pid, message: "resumed" });
  const next = await send(pid, "Echo", "c");
  assert.equal(
    (next.Output as { count: number }).count,
    3,
    "the runtime's count came back from the checkpoint",
  );
  const after = await docker.inspectContainer(`hymatrix_${pid}`);
  const file = await docker.exec(after.Id, ["cat", `${ws}/workspace/file`]);
  assert.equal(file.stdout.trim(), "kept");
});

test("cold start: with the runtime image deleted, a spawn restores it from the module file", async () => {
  // Other tests' containers keep the image in use; a retag under a unique name is what we delete.
  const coldTag = `vmdocker/runtime-test:cold-${Date.now()}`;
  await docker.tagImage(IMAGES["runtime-test"], coldTag);
  const mod = await buildModule(
    docker,
    {
      source: { mode: "pull", image: coldTag },
      signer: new EthereumSigner(CLIENT_KEY),
      outDir: join(base, "mod"),
      startCommand: RUNTIME_START_COMMAND,
    },
    silentProgress,
  );
  await docker.removeImage(coldTag);
  assert.equal(await docker.inspectImage(coldTag), null);
  const pid = await client.spawn({ module: mod.id });
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  assert.ok(await docker.inspectImage(coldTag), "the image is back under its name");
  assert.equal((await send(pid, "Ping")).Data, "Pong");
  await docker.removeImage(coldTag, true).catch(() => {});
});

/** The containers and the workspace folder a process has on this node (none after a failed spawn). */
async function leftOf(pid: string) {
  const containers = await docker.listContainers({ name: [`hymatrix_${pid}`] });
  return {
    containers: containers.map((c) => c.Names[0]),
    workspace: existsSync(join(base, "sandbox_workspace", pid)),
  };
}

test("a bad Runtime-Backend or Start-Command is the spawn's error, not a hang", async () => {
  const pid = await client.spawn({
    module: moduleId,
    tags: [{ name: "Runtime-Backend", value: "sandbox" }],
  });
  const r = await client.waitResult(pid, pid, 30_000);
  assert.match(r.Error, /Runtime-Backend=sandbox needs Docker Desktop/);
  const pid2 = await client.spawn({
    module: moduleId,
    tags: [{ name: "Start-Command", value: "/bin/false" }],
  });
  const r2 = await client.waitResult(pid2, pid2, 60_000);
  assert.match(r2.Error, /exited during start|did not become healthy/);
  assert.deepEqual(await leftOf(pid2), { containers: [], workspace: false });
});

test("a spawn the runtime refuses removes its container and workspace and says the runtime's reason", async () => {
  const pid = await client.spawn({
    module: moduleId,
    tags: [{ name: "Container-Env-RUNTIME_TYPE", value: "nosuch" }],
  });
  const r = await client.waitResult(pid, pid, 60_000);
  assert.match(r.Error, /the runtime refused the spawn: .*runtime type not supported: nosuch/);
  assert.deepEqual(await leftOf(pid), { containers: [], workspace: false }, "nothing is left");
  await assert.rejects(
    send(pid, "Ping"),
    /err_process_not_running/,
    "the failed process takes no messages",
  );
  assert.deepEqual(await leftOf(pid), { containers: [], workspace: false }, "nor comes back");
});

test("a container killed between messages: the next message still gets the right answer (replay, then from a checkpoint)", async () => {
  const pid = await client.spawn({ module: moduleId });
  await client.waitResult(pid, pid, 120_000);
  await send(pid, "Echo", "a");
  await send(pid, "Echo", "b");
  await docker.killContainer(`hymatrix_${pid}`);
  const c = await send(pid, "Echo", "c");
  assert.equal(c.Error, "");
  assert.equal(
    (c.Output as { count: number }).count,
    3,
    "spawned again and replayed a and b before c",
  );

  await running.node.checkpoint(pid);
  await send(pid, "Echo", "d");
  await docker.killContainer(`hymatrix_${pid}`);
  const e = await send(pid, "Echo", "e");
  assert.equal(
    (e.Output as { count: number }).count,
    5,
    "restored from the checkpoint at c, replayed d, then applied e",
  );
});

/** Spawns a criu-kind process of the test module and sends it Echo a and b (its count is 2). */
async function criuEchoedTwice(via = client, module = moduleId) {
  const pid = await via.spawn({ module, tags: [{ name: "Checkpoint-Kind", value: "criu" }] });
  assert.equal((await via.waitResult(pid, pid, 120_000)).Error, "");
  await send(pid, "Echo", "a", via);
  await send(pid, "Echo", "b", via);
  return pid;
}

test("criu checkpoint: admin stop and resume bring the container's memory back, with no replay and no /vmm/restore", async () => {
  const pid = await criuEchoedTwice();
  const admin = (path: string) => callAdmin(running, path, pid);
  assert.deepEqual(await admin("/admin/vms/stop"), { id: pid, message: "stopped" });
  const ckp = await running.store.checkpoint(pid);
  const data = JSON.parse(running.node.snapshot(ckp!)!.Data) as {
    format: string;
    memoryImage: { sha256: string; bytes: number };
  };
  assert.equal(data.format, "vmdocker.criu.v2");
  const image = join(base, "checkpoint_memory", `${pid}-${data.memoryImage.sha256}.tar`);
  assert.equal(statSync(image).size, data.memoryImage.bytes, "the memory stays on the host");
  assert.equal(statSync(image).mode & 0o077, 0, "readable by its owner only");
  assert.deepEqual(await admin("/admin/vms/resume"), { id: pid, message: "resumed" });
  const c = await send(pid, "Echo", "c");
  assert.equal(
    (c.Output as { count: number }).count,
    3,
    "the count lived on in the restored memory",
  );
});

/** Overwrites a few bytes in the middle of the one CRIU memory image of `pid` under `dir`. */
function corruptMemoryImage(dir: string, pid: string) {
  const memory = join(dir, "checkpoint_memory");
  const [image, ...more] = readdirSync(memory).filter((n) => n.startsWith(`${pid}-`));
  assert.ok(image, "the checkpoint's memory image is on the host");
  assert.deepEqual(more, [], "one memory image for the one checkpoint");
  const bytes = readFileSync(join(memory, image));
  bytes.write("corrupt!", Math.floor(bytes.length / 2));
  writeFileSync(join(memory, image), bytes);
}

/** The node warned once that it could not restore `pid`'s checkpoint, saying why. */
function assertOneRestoreWarning(lines: string[], pid: string) {
  const warned = lines.filter(
    (l) => l.startsWith("warning: ") && l.includes(pid) && /checkpoint/.test(l),
  );
  assert.equal(warned.length, 1, `one warning: ${lines.filter((l) => l.includes(pid)).join("\n")}`);
  assert.match(
    warned[0]!,
    /the memory image \w+ does not match its hash.*err_checkpoint_memory_corrupt/,
  );
}

test("criu: a container killed whose latest checkpoint's memory image is corrupt comes back by a fresh spawn and a replay of every message", async () => {
  const pid = await criuEchoedTwice();
  await running.node.checkpoint(pid);
  await send(pid, "Echo", "c");
  corruptMemoryImage(base, pid);
  await docker.killContainer(`hymatrix_${pid}`);

  const d = await send(pid, "Echo", "d");
  assert.equal(d.Error, "");
  assert.equal(
    (d.Output as { count: number }).count,
    4,
    "spawned afresh and replayed a, b and c before d",
  );
  const e = await send(pid, "Echo", "e");
  assert.equal((e.Output as { count: number }).count, 5, "and it carries on");
  assertOneRestoreWarning(logLines, pid);
});

test("criu: on node start, a process whose latest checkpoint's memory image is corrupt is spawned afresh and replays every message", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-vmdocker-restart-"));
  const mod = await buildTestModule(docker, dir);
  const lines: string[] = [];
  let node = await nodeOn(dir, lines);
  try {
    let via = clientOf(node);
    const pid = await criuEchoedTwice(via, mod.id);
    await node.close(); // checkpoints the process at b
    corruptMemoryImage(dir, pid);
    node = await nodeOn(dir, lines);
    via = clientOf(node);

    const c = await send(pid, "Echo", "c", via);
    assert.equal(c.Error, "");
    assert.equal(
      (c.Output as { count: number }).count,
      3,
      "spawned afresh and replayed a and b before c",
    );
    assert.equal(((await send(pid, "Echo", "d", via)).Output as { count: number }).count, 4);
    assertOneRestoreWarning(lines, pid);
  } finally {
    await node.close();
  }
});

test("warm pool: the next spawn of a module starts in a pre-started container that behaves like any other", async () => {
  const pool = running.pool!;
  const first = await client.spawn({ module: moduleId });
  assert.equal((await client.waitResult(first, first, 120_000)).Error, "");
  await pool.settled();
  assert.ok(pool.size() >= 1, "after a spawn the pool holds a started instance");

  const spawnedAt = Date.now();
  const pid = await client.spawn({ module: moduleId });
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  const info = await docker.inspectContainer(`hymatrix_${pid}`);
  assert.ok(Date.parse(info.State.StartedAt) < spawnedAt, "its container started before the spawn");
  assert.equal(info.HostConfig.ReadonlyRootfs, true);
  assert.deepEqual(info.HostConfig.CapDrop, ["ALL"]);
  assert.equal((await send(pid, "Ping")).Data, "Pong");
  assert.equal(((await send(pid, "Echo", "x")).Output as { count: number }).count, 2);

  const write = await docker.exec(info.Id, [
    "sh",
    "-c",
    `echo warm > ${workspaceInside(info)}/workspace/file`,
  ]);
  assert.equal(write.exitCode, 0, write.stderr);
  const ws = join(base, "sandbox_workspace", pid);
  assert.equal(readFileSync(join(ws, "workspace", "file"), "utf8"), "warm\n");

  await running.node.stopProcess(pid);
  await running.node.resumeProcess(pid);
  const next = await send(pid, "Echo", "y");
  assert.equal((next.Output as { count: number }).count, 3, "checkpoint and resume keep the count");
  const after = await docker.inspectContainer(`hymatrix_${pid}`);
  assert.equal(workspaceInside(after), ws, "a resumed container has the workspace at its own path");
  assert.equal((await docker.exec(after.Id, ["cat", `${ws}/workspace/file`])).stdout, "warm\n");
  await pool.settled();
  assert.ok(pool.size() >= 1, "the pool refilled");
});

function spawnEnv(pid: string): Env {
  const meta = {
    "Item-Id": pid,
    Pid: pid,
    "Acc-Id": "0x0000000000000000000000000000000000000001",
    Action: "",
    "From-Process": "",
    "Pushed-For": "",
    Sequence: 0,
    Nonce: 0,
    Timestamp: Date.now(),
    Params: {},
    Data: "",
  };
  return {
    Meta: meta,
    Process: {
      "Data-Protocol": "ao",
      Variant: "hymatrix0.1",
      Type: "Process",
      Module: moduleId,
      Scheduler: meta["Acc-Id"],
      "Pushed-For": "",
      Tags: [],
    },
    Module: {
      "Data-Protocol": "ao",
      Variant: "hymatrix0.1",
      Type: "Module",
      "Module-Format": VMDOCKER_VM_FORMAT,
      "Memory-Limit": "",
      "Compute-Limit": "",
      Tags: moduleTags.filter((t) => t.name !== "Module-Format"),
    },
    Nonce: 0,
    Sequence: 0,
    "Received-Sequence": {},
  };
}

/** A VM made straight from the factory (no node), in its own folder, and its Echo count. */
async function directVm(name: string, kind: "workspace" | "criu") {
  const root = join(base, name);
  const mount = vmdocker({
    client: docker,
    moduleFile: () => moduleFile,
    workspaceRoot: root,
    warmPool: 0,
    checkpointKind: kind,
    criuAsRoot: !hasCapSysResource(),
  });
  const pid = `${name}${Date.now()}`;
  const env = spawnEnv(pid);
  const vm = await mount.factory(env);
  const echo = async () => {
    const r = await vm.apply("tester", { ...env.Meta, Action: "Echo", Nonce: 1, Data: "eA" });
    return (r.Output as { count: number }).count;
  };
  return { root, mount, pid, vm, echo };
}

test("a restore that fails puts the workspace back and the previous runtime carries on; a good one swaps both", async () => {
  const { root, mount, pid, vm, echo } = await directVm("direct", "workspace");
  try {
    assert.equal(await echo(), 1);
    assert.equal(await echo(), 2);
    const ckp = await vm.checkpoint();
    const ws = join(root, "sandbox_workspace", pid);
    writeFileSync(join(ws, "workspace", "later"), "after the checkpoint");

    const broken = { ...(JSON.parse(ckp) as object), runtimeState: "{not json" };
    await assert.rejects(vm.restore(JSON.stringify(broken)), /restore failed.*runs as before/);
    assert.ok(existsSync(join(ws, "workspace", "later")), "the workspace is the one from before");
    assert.equal(await echo(), 3, "the previous runtime came back with its state");
    assert.deepEqual(
      readdirSync(join(root, "sandbox_workspace")).filter((n) => n !== pid),
      [],
      "no staged or backup folders are left",
    );

    await vm.restore(ckp);
    assert.equal(await echo(), 3, "the checkpoint's count (2) plus one");
    assert.ok(!existsSync(join(ws, "workspace", "later")), "the workspace is the checkpoint's");
    await assert.rejects(
      vm.restore("{}"),
      /not a vmdocker.workspace.v1, vmdocker.criu.v2 or vmdocker.criu.v1/,
    );
    assert.equal(await echo(), 4, "a malformed checkpoint changes nothing");
  } finally {
    await vm.close();
    await mount.close();
  }
});

test("criu: a restore whose memory image is missing brings the running process back from its own memory; a good one restores the checkpoint's", async () => {
  const { root, mount, vm, echo } = await directVm("criu", "criu");
  const images = () => readdirSync(join(root, "checkpoint_memory")).sort();
  try {
    assert.equal(await echo(), 1);
    assert.equal(await echo(), 2);
    const ckp = await vm.checkpoint();
    assert.equal(await echo(), 3);
    const taken = images();
    const broken = JSON.parse(ckp) as { memoryImage: { sha256: string } };
    broken.memoryImage.sha256 = "0".repeat(64);
    await assert.rejects(vm.restore(JSON.stringify(broken)), {
      code: "err_checkpoint_memory_missing",
      message:
        /restore failed \(the memory image 000000000000 of this checkpoint is not in .*\); the process runs as before/,
    });
    assert.equal(await echo(), 4, "the count lived on in the process's own memory");
    assert.deepEqual(images(), taken, "the rollback image is gone, the checkpoint's is kept");

    await vm.restore(ckp);
    assert.equal(await echo(), 3, "the checkpoint's count (2) plus one");
    assert.deepEqual(images(), taken, "no rollback image is left after a good restore");
  } finally {
    await vm.close();
    await mount.close();
  }
});

test("a secret sent encrypted reaches the container's env, and no stored item or checkpoint holds it", async () => {
  const secret = `sk-container-${Date.now()}`;
  const pid = await client.spawn({
    module: moduleId,
    secrets: { "Container-Env-API_KEY": secret },
  });
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  const info = await docker.inspectContainer(`hymatrix_${pid}`);
  assert.ok(info.Config.Env?.includes(`API_KEY=${secret}`), "the container got the plaintext");
  await send(pid, "Echo", "x");
  await running.node.checkpoint(pid);
  assert.deepEqual(filesHolding(base, secret), [], "the node's files hold only ciphertext");
});
