import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startTask } from "../../src/runtimes/agent/executor.js";
import { TaskJournal } from "../../src/runtimes/agent/journal.js";

const work = mkdtempSync(join(tmpdir(), "vmd-exec-"));

test("exec streams stdout and stderr apart, keeps the output, and reports the exit code", async () => {
  const chunks: string[] = [];
  const run = startTask(
    { id: "a", type: "exec", command: "echo one; echo two >&2; exit 4" },
    work,
    (s, d) => chunks.push(`${s}:${d}`),
  );
  const out = await run.done;
  assert.equal(out.status, "failed");
  assert.equal(out.exitCode, 4);
  assert.ok(chunks.includes("stdout:one\n") && chunks.includes("stderr:two\n"));
  assert.match(out.output, /one\n/);
  assert.ok(out.finishedAt >= out.startedAt);
});

test("a timeout kills the whole process group, children too", async () => {
  const started = Date.now();
  const run = startTask(
    { id: "b", type: "exec", command: "sleep 30 & sleep 30; echo never", timeoutMs: 200 },
    work,
    () => {},
  );
  const out = await run.done;
  assert.equal(out.status, "timeout");
  assert.ok(Date.now() - started < 5000, "it did not wait for sleep");
  assert.ok(!out.output.includes("never"));
});

test("cancel stops a running task; unknown types and empty commands fail with a reason", async () => {
  const run = startTask({ id: "c", type: "exec", command: "sleep 30" }, work, () => {});
  setTimeout(() => run.cancel(), 100);
  assert.equal((await run.done).status, "cancelled");
  const unknown = await startTask({ id: "d", type: "teleport" }, work, () => {}).done;
  assert.equal(unknown.status, "failed");
  assert.match(
    unknown.error ?? "",
    /unknown task type teleport \(known: exec, write_file, read_file\)/,
  );
  const empty = await startTask({ id: "e", type: "exec" }, work, () => {}).done;
  assert.match(empty.error ?? "", /needs a command/);
});

test("write_file and read_file work relative to the workspace", async () => {
  const w = await startTask(
    { id: "f", type: "write_file", path: "d/x.txt", content: "hi" },
    work,
    () => {},
  ).done;
  assert.equal(w.status, "succeeded");
  assert.equal(readFileSync(join(work, "d", "x.txt"), "utf8"), "hi");
  const r = await startTask({ id: "g", type: "read_file", path: "d/x.txt" }, work, () => {}).done;
  assert.equal(r.output, "hi");
});

test("the journal answers a task it has seen, across instances (an agent restart)", () => {
  const dir = join(work, "journal");
  new TaskJournal(dir).put("t/1", { state: "started", startedAt: 5 });
  assert.deepEqual(new TaskJournal(dir).get("t/1"), { state: "started", startedAt: 5 });
  assert.equal(new TaskJournal(dir).get("other"), undefined);
});
