import assert from "node:assert/strict";
import { test } from "node:test";
import {
  removeAndRethrow,
  removeLogged,
  type Instance,
} from "../../src/runtime/backends/instance.js";

const instance = (remove: () => Promise<void>): Instance => ({
  id: "c1",
  name: "hymatrix_p1",
  call: () => Promise.reject(new Error("not called")),
  running: () => Promise.resolve(false),
  remove,
});

test("a failed start removes its instance and rethrows the start's own error", async () => {
  let removed = 0;
  const lines: string[] = [];
  const cause = new Error("the runtime refused the spawn");
  await assert.rejects(
    removeAndRethrow(
      instance(async () => void removed++),
      cause,
      (l) => lines.push(l),
    ),
    (err) => err === cause,
  );
  assert.equal(removed, 1);
  assert.deepEqual(lines, [], "nothing to report when the removal worked");
});

test("when the removal fails too, it is logged and the start's error is still the one thrown", async () => {
  const lines: string[] = [];
  const cause = new Error("the gateway exited during start");
  await assert.rejects(
    removeAndRethrow(
      instance(() => Promise.reject(new Error("engine said 500"))),
      cause,
      (l) => lines.push(l),
    ),
    (err) => err === cause,
  );
  assert.deepEqual(lines, [
    "could not remove hymatrix_p1 after its failed start (the gateway exited during start): engine said 500",
  ]);
  await removeLogged(
    instance(() => Promise.reject(new Error("gone wrong"))),
    "a failed restore",
    (l) => lines.push(l),
  );
  assert.equal(lines.at(-1), "could not remove hymatrix_p1 after a failed restore: gone wrong");
});
