import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
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
import { VmRegistry } from "../../src/vm/contract.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { testClient } from "../helpers/engine.js";

// End to end against the real engine: node → container → /vmm runtime (the `test` runtime image).
const docker = testClient();
const base = mkdtempSync(join(tmpdir(), "vmd-vmdocker-"));
let running: RunningNode;
let client: HymxClient;
let moduleId: string;

before(async () => {
  const mod = await buildModule(
    docker,
    {
      source: { mode: "pull", image: IMAGES["runtime-test"] },
      signer: new EthereumSigner(CLIENT_KEY),
      outDir: join(base, "mod"),
      startCommand: RUNTIME_START_COMMAND,
    },
    silentProgress,
  );
  moduleId = mod.id;
  const cfg = loadConfig(undefined, { VMDOCKER_PORT: ":0", VMDOCKER_ADMIN_PORT: ":0" });
  running = await startNode(cfg, { baseDir: base, vms: new VmRegistry(), log: () => {}, docker });
  client = new HymxClient({ url: running.url, signer: new EthereumSigner(CLIENT_KEY) });
});
after(async () => running?.close());

async function send(pid: string, action: string, data = "") {
  const id = await client.message({ pid, action, data });
  return client.waitResult(pid, id, 60_000);
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

test("workspace checkpoint: admin stop and resume keep the in-memory count and the workspace files", async () => {
  const pid = await client.spawn({ module: moduleId });
  await client.waitResult(pid, pid, 120_000);
  await send(pid, "Echo", "a");
  await send(pid, "Echo", "b");
  const ws = join(base, "sandbox_workspace", pid);
  const info = await docker.inspectContainer(`hymatrix_${pid}`);
  await docker.exec(info.Id, ["sh", "-c", `echo kept > ${ws}/workspace/file`]);
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

test("criu checkpoint: admin stop and resume bring the container's memory back, with no replay and no /vmm/restore", async () => {
  const pid = await client.spawn({
    module: moduleId,
    tags: [{ name: "Checkpoint-Kind", value: "criu" }],
  });
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  await send(pid, "Echo", "a");
  await send(pid, "Echo", "b");
  const admin = (path: string) =>
    fetch(`${running.adminUrl}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${running.adminToken}` },
      body: JSON.stringify({ pid }),
    }).then((r) => r.json());
  assert.deepEqual(await admin("/admin/vms/stop"), { id: pid, message: "stopped" });
  const ckp = await running.store.checkpoint(pid);
  const file = JSON.parse(readFileSync(join(base, "ckp", `ckp-${ckp}.json`), "utf8")) as {
    data: string;
  };
  const snapshot = JSON.parse(Buffer.from(file.data, "base64url").toString("utf8")) as {
    Data: string;
  };
  assert.equal((JSON.parse(snapshot.Data) as { format: string }).format, "vmdocker.criu.v1");
  assert.deepEqual(await admin("/admin/vms/resume"), { id: pid, message: "resumed" });
  const c = await send(pid, "Echo", "c");
  assert.equal(
    (c.Output as { count: number }).count,
    3,
    "the count lived on in the restored memory",
  );
});
