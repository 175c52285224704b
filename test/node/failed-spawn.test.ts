import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import type { ProcessRow } from "../../src/node/process-row.js";
import { VmdError } from "../../src/errors.js";
import { VmRegistry, type VmFactory } from "../../src/vm/contract.js";
import { getJson, messageItem, post, spawnItem, waitResult } from "../helpers/client.js";
import { ECHO_FORMAT, echoFactory, writeEchoModule } from "../helpers/echo-vm.js";

const base = mkdtempSync(join(tmpdir(), "vmd-failed-spawn-"));
let running: RunningNode | undefined;
after(async () => running?.close());

/** Starts the node on `base`, counting the VMs it tries to make for spawns that fail. */
async function start(calls: { n: number }): Promise<RunningNode> {
  const counting: VmFactory = (env, opts) => {
    if (env.Process.Tags?.some((t) => t.name === "Spawn-Fail")) calls.n++;
    if (env.Process.Tags?.some((t) => t.name === "Spawn-Fail-Code"))
      throw new VmdError("err_module_image_load", "the image did not load", "copy the module");
    return echoFactory(env, opts);
  };
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, counting);
  return startNode(loadConfig(undefined, { VMDOCKER_PORT: ":0" }), {
    baseDir: base,
    vms,
    log: () => {},
  });
}

const row = async (url: string, pid: string) =>
  (await getJson<{ processes: ProcessRow[] }>(`${url}/vmd/processes`)).body.processes.find(
    (p) => p.pid === pid,
  );

test("a process whose spawn failed is listed as failed with the reason, refuses messages, and is not spawned again at the next start", async () => {
  const moduleId = await writeEchoModule(base);
  const calls = { n: 0 };
  running = await start(calls);
  const spawn = spawnItem(moduleId, running.node.address, [
    { name: "Spawn-Fail", value: "no such start command" },
  ]);
  const pid = (await post(running.url, spawn)).body.id!;
  const result = await waitResult(running.url, pid, pid);
  assert.equal(result.Error, "spawn failed: no such start command");

  const listed = await row(running.url, pid);
  assert.deepEqual([listed?.running, listed?.failed], [false, "no such start command"]);
  const running0 = await getJson<{ running: number; total: number }>(
    `${running.url}/vmd/processes`,
  );
  assert.ok(running0.body.running < running0.body.total, "not counted as running");

  const sent = await post(running.url, messageItem(pid, "hello"));
  assert.deepEqual([sent.status, sent.body.error], [400, "err_process_not_running"]);

  await running.close();
  running = await start(calls);
  const again = await row(running.url, pid);
  assert.deepEqual([again?.running, again?.failed], [false, "no such start command"]);
  assert.equal(calls.n, 1, "the node did not try to make its VM again");
  const resent = await post(running.url, messageItem(pid, "hello"));
  assert.deepEqual([resent.status, resent.body.error], [400, "err_process_not_running"]);
});

test("a spawn that fails with a coded error keeps its code and fix in the result and the listing", async () => {
  const moduleId = await writeEchoModule(base);
  running ??= await start({ n: 0 });
  const spawn = spawnItem(moduleId, running.node.address, [
    { name: "Spawn-Fail-Code", value: "yes" },
  ]);
  const pid = (await post(running.url, spawn)).body.id!;
  const why = "the image did not load (err_module_image_load; fix: copy the module)";
  assert.equal((await waitResult(running.url, pid, pid)).Error, `spawn failed: ${why}`);
  assert.equal((await row(running.url, pid))?.failed, why);
});
