import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { errorBody } from "../../src/errors.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { VmRegistry, type VmFactory } from "../../src/vm/contract.js";
import { getJson, messageItem, post, spawnItem, waitResult } from "../helpers/client.js";
import { admin } from "../helpers/admin.js";
import { ECHO_FORMAT, echoFactory, writeEchoModule } from "../helpers/echo-vm.js";

/** The echo VM, counting how often any instance applies a message (replays included). */
function countingEcho() {
  const counter = { applies: 0 };
  const factory: VmFactory = async (env) => {
    const vm = await echoFactory(env);
    const apply = vm.apply.bind(vm);
    vm.apply = (from, meta) => {
      counter.applies++;
      return apply(from, meta);
    };
    return vm;
  };
  return { counter, factory };
}

async function start(
  base: string,
  factory: VmFactory,
  mode: "normal" | "rebuild" = "normal",
): Promise<RunningNode> {
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, factory);
  const cfg = loadConfig(undefined, {
    VMDOCKER_PORT: ":0",
    VMDOCKER_ADMIN_PORT: ":0",
    VMDOCKER_DATA_DIR: "data",
  });
  return startNode(cfg, { baseDir: base, vms, log: () => {}, mode });
}

async function send(r: RunningNode, pid: string, data: string, action = "Echo") {
  const m = messageItem(pid, data, action);
  assert.equal((await post(r.url, m)).status, 200);
  return waitResult(r.url, pid, m.id);
}

test("admin API: token required; stop checkpoints and refuses messages; resume restores; core processes cannot stop", async () => {
  const base = mkdtempSync(join(tmpdir(), "vmd-admin-"));
  const moduleId = await writeEchoModule(base);
  const running = await start(base, echoFactory);
  try {
    const pid = (await post(running.url, spawnItem(moduleId, running.node.address))).body.id!;
    await waitResult(running.url, pid, pid);
    for (const d of ["a", "b", "c"]) await send(running, pid, d);
    const admin = (path: string, body?: unknown, token = running.adminToken) =>
      fetch(`${running.adminUrl}${path}`, {
        method: body ? "POST" : "GET",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body ? JSON.stringify(body) : undefined,
      });
    assert.equal((await admin("/admin/vms/running", undefined, "wrong")).status, 401);
    assert.ok(((await (await admin("/admin/vms/running")).json()) as string[]).includes(pid));

    assert.deepEqual(await (await admin("/admin/vms/stop", { pid })).json(), {
      id: pid,
      message: "stopped",
    });
    assert.ok(!((await (await admin("/admin/vms/running")).json()) as string[]).includes(pid));
    const ckp = await running.store.checkpoint(pid);
    assert.ok(
      ckp && existsSync(join(base, "ckp", `ckp-${ckp}.json`)),
      "a signed checkpoint item is written under ckp/",
    );
    const item = JSON.parse(readFileSync(join(base, "ckp", `ckp-${ckp}.json`), "utf8")) as {
      tags: { name: string; value: string }[];
      data: string;
    };
    assert.deepEqual(
      item.tags
        .filter((t) => ["Type", "Process", "Nonce", "Checkpoint-Encryption"].includes(t.name))
        .map((t) => t.value),
      ["Checkpoint", pid, "3", "ecies"],
    );
    const stored = JSON.parse(Buffer.from(item.data, "base64url").toString("utf8")) as {
      Data: string;
    };
    const state = running.node.snapshot(ckp!)!.Data;
    assert.ok(
      state.length > 0 && !stored.Data.includes(state),
      "the VM's state is stored encrypted",
    );
    assert.equal(
      Buffer.from(stored.Data, "base64")[0],
      4,
      "as ECIES to the node's key (an ephemeral public key first)",
    );

    assert.equal(
      (await post(running.url, messageItem(pid, "x"))).body.error,
      "err_process_stopped",
    );
    assert.deepEqual(
      await (await admin("/admin/vms/stop", { pid })).json(),
      errorBody("err_process_stopped"),
    );
    assert.deepEqual(
      await (await admin("/admin/vms/stop", { pid: running.node.core.token })).json(),
      errorBody("err_core_process_cannot_stop"),
    );
    assert.deepEqual(
      await (await admin("/admin/vms/stop", { pid: "nope" })).json(),
      errorBody("err_process_not_found"),
    );
    assert.deepEqual(
      await (await admin("/admin/vms/stop", {})).json(),
      errorBody(
        "err_invalid_params",
        "the body has no pid",
        'send a JSON body like {"pid":"<process id>"}',
      ),
    );

    assert.deepEqual(await (await admin("/admin/vms/resume", { pid })).json(), {
      id: pid,
      message: "resumed",
    });
    assert.deepEqual(
      await (await admin("/admin/vms/resume", { pid })).json(),
      errorBody("err_process_already_exist"),
    );
    assert.equal(
      (await send(running, pid, "d")).Data,
      "4:d",
      "the in-memory counter came back from the checkpoint",
    );
  } finally {
    await running.close();
  }
});

test("a restart after a clean shutdown restores from the shutdown checkpoint and replays nothing; --mode rebuild replays all", async () => {
  const base = mkdtempSync(join(tmpdir(), "vmd-ckp-"));
  const moduleId = await writeEchoModule(base);
  const first = await start(base, echoFactory);
  const pid = (await post(first.url, spawnItem(moduleId, first.node.address))).body.id!;
  await waitResult(first.url, pid, pid);
  for (const d of ["a", "b", "c", "d", "e"]) await send(first, pid, d);
  await first.close(); // checkpoints every process that changed

  const counted = countingEcho();
  const second = await start(base, counted.factory);
  try {
    await second.node.settled();
    assert.equal(
      counted.counter.applies,
      0,
      "nothing was replayed: the VM came back from its checkpoint",
    );
    assert.equal((await send(second, pid, "f")).Data, "6:f");
  } finally {
    await second.close();
  }

  const rebuilt = countingEcho();
  const third = await start(base, rebuilt.factory, "rebuild");
  try {
    await third.node.settled();
    assert.equal(rebuilt.counter.applies, 6, "rebuild re-executes every message");
    const all = await third.store.results(pid, { limit: 100, sort: "ASC" });
    assert.deepEqual(
      all.map((r) => r.Data),
      ["", "1:a", "2:b", "3:c", "4:d", "5:e", "6:f"],
    );
    assert.equal((await getJson<number>(`${third.url}/nonce/${pid}`)).body, 6);
  } finally {
    await third.close();
  }
});

test("admin stop of a process whose VM fails to close answers with that error (no hang); the process keeps running", async () => {
  const base = mkdtempSync(join(tmpdir(), "vmd-stopfail-"));
  const moduleId = await writeEchoModule(base);
  const stubborn: VmFactory = async (env) => {
    const vm = await echoFactory(env);
    vm.close = async () => {
      throw new Error("the instance would not stop");
    };
    return vm;
  };
  const running = await start(base, stubborn);
  try {
    const pid = (await post(running.url, spawnItem(moduleId, running.node.address))).body.id!;
    await waitResult(running.url, pid, pid);
    await send(running, pid, "a");
    const answer = await Promise.race([
      admin(running, "/admin/vms/stop", pid),
      new Promise((r) => setTimeout(() => r("no answer after 10 s"), 10_000).unref()),
    ]);
    assert.deepEqual(answer, errorBody("err_internal", "the instance would not stop"));
    await assert.rejects(running.node.stopProcess(pid), /the instance would not stop/);
    assert.ok(running.node.runningProcesses().includes(pid), "it is still listed as running");
    assert.equal((await send(running, pid, "b")).Data, "2:b", "and still answers messages");
  } finally {
    await running.close();
  }
});
