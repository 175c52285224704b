import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LOCKDOWN, SandboxBackend } from "../../src/runtime/backends/sandbox.js";
import type { RunResult } from "../../src/sys/exec.js";

// Docker Desktop's `docker sandbox` cannot run on Linux: the backend is checked against the
// command lines it issues (spec §3.8), with the CLI's answers recorded here.
test("sandbox backend: preflight, template check, create, lockdown, launch, /vmm calls through curl, stop and rm", async () => {
  const ws = mkdtempSync(join(tmpdir(), "vmd-sbx-"));
  const calls: string[][] = [];
  let seenPayload: { mode: number; body: string } | undefined;
  const cli = async (args: string[]): Promise<RunResult> => {
    calls.push(args);
    const joined = args.join(" ");
    if (joined === "--help")
      return { code: 0, stdout: "Commands:\n  sandbox  Docker Sandboxes\n", stderr: "" };
    if (args[0] === "image")
      return {
        code: 0,
        stdout: JSON.stringify([{ Id: "sha256:abc", RepoDigests: [] }]),
        stderr: "",
      };
    if (args[1] === "stop") return { code: 1, stdout: "", stderr: "sandbox is not running" };
    if (joined.includes("curl")) {
      const file = /@(\S+)/.exec(joined)?.[1];
      if (file)
        seenPayload = { mode: statSync(file).mode & 0o777, body: readFileSync(file, "utf8") };
      return { code: 0, stdout: '{"status":"ok"}\n__STATUS__:200', stderr: "" };
    }
    return { code: 0, stdout: "", stderr: "" };
  };
  const backend = new SandboxBackend(cli);
  const instance = await backend.create(
    {
      name: "ignored",
      image: "img:1",
      argv: ["/usr/local/bin/node", "/app/runtimes/server.js"],
      env: { HOME: `${ws}/.home`, A: "b c" },
      workspace: ws,
      limits: { memoryBytes: 1, pids: 1, cpus: 1 },
    },
    { agent: "shell", imageId: "sha256:abc", pid: "0123456789abcdefghij" },
  );
  assert.equal(instance.name, "hymatrix_0123456789");
  assert.deepEqual(calls[0], ["--help"]);
  assert.deepEqual(calls[1], ["image", "inspect", "img:1"]);
  assert.deepEqual(calls[2], [
    "sandbox",
    "create",
    "--name",
    "hymatrix_0123456789",
    "--pull-template",
    "missing",
    "-t",
    "img:1",
    "shell",
    ws,
  ]);
  assert.deepEqual(calls[3], [
    "sandbox",
    "exec",
    "-u",
    "0:0",
    "-w",
    ws,
    "hymatrix_0123456789",
    "sh",
    "-c",
    LOCKDOWN,
  ]);
  assert.deepEqual(calls[4], [
    "sandbox",
    "exec",
    "-e",
    `HOME=${ws}/.home`,
    "-e",
    "A=b c",
    "-w",
    ws,
    "hymatrix_0123456789",
    "sh",
    "-lc",
    `mkdir -p "\${TMPDIR:-/tmp}" && '/usr/local/bin/node' '/app/runtimes/server.js' >"\${TMPDIR:-/tmp}/vmdocker-agent.log" 2>&1 &`,
  ]);

  const health = await instance.call("health");
  assert.deepEqual(health.body, { status: "ok" });
  assert.equal(health.status, 200);
  assert.equal(
    calls[5]!.at(-1),
    `curl -sS -X POST -H 'Content-Type: application/json' --data-raw '' 'http://127.0.0.1:8080/vmm/health' -w '\\n__STATUS__:%{http_code}'`,
  );

  await instance.call("apply", { meta: { Action: "Ping" } });
  assert.deepEqual(
    seenPayload,
    { mode: 0o600, body: '{"meta":{"Action":"Ping"}}' },
    "the payload went through a 0600 file in the workspace",
  );
  assert.deepEqual(readdirSync(join(ws, ".tmp")), [], "and the file is gone afterwards");

  await instance.remove();
  assert.deepEqual(calls.slice(-2), [
    ["sandbox", "stop", "hymatrix_0123456789"],
    ["sandbox", "rm", "hymatrix_0123456789"],
  ]);
  assert.ok(!existsSync(join(ws, ".tmp", "x")));
});

test("sandbox backend: no `docker sandbox`, or a template with another id, is a clear error", async () => {
  const request: Parameters<SandboxBackend["create"]> = [
    {
      name: "n",
      image: "i",
      argv: ["x"],
      env: {},
      workspace: "/tmp",
      limits: { memoryBytes: 1, pids: 1, cpus: 1 },
    },
    { agent: "shell", imageId: "sha256:a", pid: "p" },
  ];
  const none = new SandboxBackend(async () => ({
    code: 0,
    stdout: "Commands:\n  run\n",
    stderr: "",
  }));
  await assert.rejects(none.create(...request), /this Docker has no `docker sandbox`/);
  const wrong = new SandboxBackend(async (args) =>
    args[0] === "--help"
      ? { code: 0, stdout: "sandbox", stderr: "" }
      : args[0] === "image"
        ? { code: 0, stdout: JSON.stringify([{ Id: "sha256:other" }]), stderr: "" }
        : { code: 0, stdout: "", stderr: "" },
  );
  await assert.rejects(wrong.create(...request), /i is not sha256:a/);
});
