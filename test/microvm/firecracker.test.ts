import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { VmdError } from "../../src/errors.js";
import { FirecrackerDriver } from "../../src/microvm/vmm/firecracker.js";
import { firecrackerCall } from "../../src/microvm/vmm/firecracker-api.js";
import type { VmSpec } from "../../src/microvm/vmm/types.js";

// The Firecracker driver against a server that answers Firecracker's API on the per-VM Unix
// socket (test/helpers/fake-firecracker.ts, started by the driver as its `firecracker` binary):
// these are the exact calls a real Firecracker would receive, in order, with their bodies.
const dir = mkdtempSync(join(tmpdir(), "vmd-fc-"));
const fake = fileURLToPath(new URL("../helpers/fake-firecracker.js", import.meta.url));
const binary = join(dir, "firecracker");
writeFileSync(binary, `#!/bin/sh\nexec ${process.execPath} ${fake} "$@"\n`, { mode: 0o755 });
for (const f of ["vmlinux", "initrd.img", "rootfs.ext4", "seed.img"])
  writeFileSync(join(dir, f), `${f} bytes`);
const log = join(dir, "api.jsonl");
process.env.FAKE_FC_LOG = log;

const spec: VmSpec = {
  id: "fc-bot",
  vmm: "firecracker",
  accel: "kvm",
  vcpu: 2,
  memMib: 1024,
  kernel: join(dir, "vmlinux"),
  initrd: join(dir, "initrd.img"),
  bootArgs: "console=ttyS0 root=/dev/vda rw panic=1 pci=off quiet reboot=k",
  disks: [
    { id: "rootfs", path: join(dir, "rootfs.ext4"), format: "raw", readOnly: false },
    { id: "seed", path: join(dir, "seed.img"), format: "raw", readOnly: true },
  ],
  net: { mode: "tap", tap: "fc-fc-bot", mac: "06:fc:ac:10:00:02" },
  controlSocket: join(dir, "api.sock"),
  serialLog: join(dir, "serial.log"),
  snapshotDir: join(dir, "snapshots"),
};
const driver = new FirecrackerDriver(binary);

type Call = { method: string; path: string; body: unknown; status: number };
function calls(): Call[] {
  if (!existsSync(log)) return [];
  const all = readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Call);
  rmSync(log);
  // The driver polls GET / until the socket answers; one poll is what matters.
  return all.filter((c, i) => !(c.method === "GET" && c.path === "/" && all[i - 1]?.path === "/"));
}
const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) =>
    child.exitCode !== null || child.signalCode !== null
      ? resolve()
      : child.once("exit", () => resolve()),
  );

after(() => rmSync(dir, { recursive: true, force: true }));

test("set-up: machine config, boot source, drives, network interface, entropy, InstanceStart", async () => {
  const child = await driver.launch(spec, { logFile: join(dir, "vmm.log") });
  try {
    assert.deepEqual(calls(), [
      { method: "GET", path: "/", body: null, status: 200 },
      {
        method: "PUT",
        path: "/machine-config",
        body: { vcpu_count: 2, mem_size_mib: 1024, smt: false },
        status: 204,
      },
      {
        method: "PUT",
        path: "/boot-source",
        body: {
          kernel_image_path: spec.kernel,
          boot_args: spec.bootArgs,
          initrd_path: spec.initrd,
        },
        status: 204,
      },
      {
        method: "PUT",
        path: "/drives/rootfs",
        body: {
          drive_id: "rootfs",
          path_on_host: spec.disks[0]!.path,
          is_root_device: true,
          is_read_only: false,
        },
        status: 204,
      },
      {
        method: "PUT",
        path: "/drives/seed",
        body: {
          drive_id: "seed",
          path_on_host: spec.disks[1]!.path,
          is_root_device: false,
          is_read_only: true,
        },
        status: 204,
      },
      {
        method: "PUT",
        path: "/network-interfaces/eth0",
        body: { iface_id: "eth0", host_dev_name: "fc-fc-bot", guest_mac: "06:fc:ac:10:00:02" },
        status: 204,
      },
      { method: "PUT", path: "/entropy", body: {}, status: 204 },
      { method: "PUT", path: "/actions", body: { action_type: "InstanceStart" }, status: 204 },
    ]);
    assert.equal(await driver.runState(spec), "running");
    calls();

    // pause / resume
    await driver.pause(spec);
    assert.equal(await driver.runState(spec), "paused");
    await driver.resume(spec);
    assert.deepEqual(
      calls().filter((c) => c.method !== "GET"),
      [
        { method: "PATCH", path: "/vm", body: { state: "Paused" }, status: 204 },
        { method: "PATCH", path: "/vm", body: { state: "Resumed" }, status: 204 },
      ],
    );

    // a pre-boot call after the start is refused the way Firecracker refuses it
    await assert.rejects(
      firecrackerCall(spec.controlSocket, "PUT", "/machine-config", {
        vcpu_count: 4,
        mem_size_mib: 64,
      }),
      (e: unknown) =>
        e instanceof VmdError &&
        /HTTP 400\): The requested operation is not supported after starting the microVM/.test(
          e.message,
        ),
    );
    calls();

    // snapshot: paused while state and memory are written and the disk is copied, then resumed
    writeFileSync(spec.disks[0]!.path, "disk at snapshot time");
    const snap = await driver.snapshot(spec, "before-upgrade");
    const dirOf = join(spec.snapshotDir, "before-upgrade");
    assert.deepEqual(
      calls().filter((c) => c.method !== "GET"),
      [
        { method: "PATCH", path: "/vm", body: { state: "Paused" }, status: 204 },
        {
          method: "PUT",
          path: "/snapshot/create",
          body: {
            snapshot_type: "Full",
            snapshot_path: join(dirOf, "vmstate"),
            mem_file_path: join(dirOf, "memory"),
          },
          status: 204,
        },
        { method: "PATCH", path: "/vm", body: { state: "Resumed" }, status: 204 },
      ],
    );
    assert.equal(snap.memoryBytes, 4096);
    assert.equal(readFileSync(join(dirOf, "disk"), "utf8"), "disk at snapshot time");
    assert.deepEqual(
      (await driver.listSnapshots(spec)).map((s) => s.name),
      ["before-upgrade"],
    );

    // stop: Ctrl-Alt-Del, and Firecracker exits with the guest
    await driver.requestShutdown(spec);
    await exited(child);
    assert.deepEqual(
      calls().filter((c) => c.method !== "GET"),
      [{ method: "PUT", path: "/actions", body: { action_type: "SendCtrlAltDel" }, status: 204 }],
    );
  } finally {
    child.kill("SIGKILL");
  }
});

test("restore: a fresh Firecracker loads the snapshot (state + memory file) and resumes; the disk comes back", async () => {
  writeFileSync(spec.disks[0]!.path, "disk changed after the snapshot");
  const child = await driver.launch(spec, {
    logFile: join(dir, "vmm.log"),
    restore: "before-upgrade",
  });
  try {
    const dirOf = join(spec.snapshotDir, "before-upgrade");
    assert.deepEqual(calls(), [
      { method: "GET", path: "/", body: null, status: 200 },
      {
        method: "PUT",
        path: "/snapshot/load",
        body: {
          snapshot_path: join(dirOf, "vmstate"),
          mem_backend: { backend_type: "File", backend_path: join(dirOf, "memory") },
          resume_vm: true,
        },
        status: 204,
      },
    ]);
    assert.equal(readFileSync(spec.disks[0]!.path, "utf8"), "disk at snapshot time");
    assert.equal(await driver.runState(spec), "running");
  } finally {
    child.kill("SIGKILL");
    await exited(child);
  }
  await assert.rejects(
    driver.launch(spec, { logFile: join(dir, "vmm.log"), restore: "nope" }),
    /no snapshot nope/,
  );
  await driver.deleteSnapshot(spec, "before-upgrade");
  assert.deepEqual(await driver.listSnapshots(spec), []);
  calls();
});

test("an error reply stops the set-up with Firecracker's fault message, and the process is ended", async () => {
  process.env.FAKE_FC_FAIL = "PUT /drives/seed";
  try {
    await assert.rejects(
      driver.launch(spec, { logFile: join(dir, "vmm.log") }),
      (e: unknown) =>
        e instanceof VmdError &&
        e.code === "err_firecracker_api" &&
        e.message ===
          "Firecracker refused PUT /drives/seed (HTTP 400): injected failure of PUT /drives/seed",
    );
  } finally {
    delete process.env.FAKE_FC_FAIL;
  }
  const seen = calls().map((c) => `${c.method} ${c.path} ${c.status}`);
  assert.deepEqual(seen.slice(-2), ["PUT /drives/rootfs 204", "PUT /drives/seed 400"]);
  assert.ok(
    !seen.some((s) => s.startsWith("PUT /actions")),
    "no InstanceStart after a failed step",
  );
  // the killed process no longer answers
  await new Promise((r) => setTimeout(r, 300));
  await assert.rejects(firecrackerCall(spec.controlSocket, "GET", "/"), /API socket/);
  // a kernel path Firecracker cannot open is refused with its own words
  await assert.rejects(
    driver.launch(
      { ...spec, kernel: join(dir, "missing-vmlinux") },
      { logFile: join(dir, "vmm.log") },
    ),
    /boot-source \(HTTP 400\): The kernel file cannot be opened/,
  );
  calls();
});
