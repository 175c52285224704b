import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { prepareWorkspace, workspacePath } from "../../src/runtime/workspace.js";

test("workspaces: open to the container's user through their mount, closed to the host's other users", () => {
  const root = mkdtempSync(join(tmpdir(), "vmd-ws-"));
  const ws = prepareWorkspace(workspacePath(root, "pid-1"));
  const mode = (p: string) => statSync(p).mode & 0o777;
  assert.equal(mode(dirname(ws)), 0o700, "sandbox_workspace is the node's user's only");
  assert.equal(mode(ws), 0o777, "the image's user (any uid) can write its workspace");
  assert.equal(mode(join(ws, ".home")), 0o777);
  prepareWorkspace(workspacePath(root, "pid-2"));
  assert.equal(mode(dirname(ws)), 0o700, "a second workspace leaves the parent closed");
});
