import assert from "node:assert/strict";
import { after, test } from "node:test";
import { IMAGES } from "../../src/runtime/images/builder.js";
import { testClient, uniqueName, waitFor } from "../helpers/engine.js";

const client = testClient();
const created: string[] = [];
after(async () => {
  for (const id of created) await client.removeContainer(id, { force: true }).catch(() => {});
});

const counts = (logs: string) =>
  logs
    .split("\n")
    .filter((l) => /^\d+$/.test(l))
    .map(Number);

test("CRIU: a running container is checkpointed and restored, and its in-memory counter continues", async () => {
  const id = await client.createContainer({
    name: uniqueName("criu"),
    Image: IMAGES.busybox,
    // The counter lives only in the shell's memory: a restart would begin again at 1.
    Cmd: ["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done"],
  });
  created.push(id);
  await client.startContainer(id);
  await waitFor(
    "the counter to pass 20",
    async () => (counts(await client.logs(id)).at(-1) ?? 0) > 20,
  );

  await client.createCheckpoint(id, "cp1", { exit: true });
  const stopped = await client.inspectContainer(id);
  assert.equal(stopped.State.Running, false, "checkpoint with exit stops the container");
  const atCheckpoint = counts(await client.logs(id)).at(-1)!;
  assert.deepEqual(
    (await client.listCheckpoints(id)).map((c) => c.Name),
    ["cp1"],
  );

  await client.startContainer(id, { checkpoint: "cp1" });
  await waitFor(
    "the counter to move on after restore",
    async () => (counts(await client.logs(id)).at(-1) ?? 0) > atCheckpoint + 10,
  );
  const all = counts(await client.logs(id));
  for (let i = 1; i < all.length; i++) {
    assert.equal(
      all[i],
      all[i - 1]! + 1,
      `the counter continued without a reset (at ${all[i - 1]} → ${all[i]})`,
    );
  }
  await client.deleteCheckpoint(id, "cp1");
  assert.deepEqual(await client.listCheckpoints(id), []);
});
