import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fuzzEchoNode } from "../helpers/fuzz.js";

// CI's share of the fuzzing (bench/ runs 100,000): mutated and hostile items against a node in its
// own process. FUZZ_COUNT and FUZZ_SEED repeat a run.
const COUNT = Number(process.env.FUZZ_COUNT ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);

test(`${COUNT} mutated items: no crash, no answer slower than 1 s, each a 400 with a code or accepted exactly once, memory flat`, async () => {
  const base = mkdtempSync(join(tmpdir(), "vmd-fuzz-"));
  const { report, alive } = await fuzzEchoNode(base, COUNT, SEED).finally(() =>
    rmSync(base, { recursive: true, force: true }),
  );
  const mb = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(
    `# fuzz seed ${SEED}: ${report.sent} sent, ${report.accepted} accepted, refused ${JSON.stringify(report.refused)}; ${report.slowUnderLoad} over 1 s under load; rss ${mb(report.rss.afterWarmup)} → ${mb(report.rss.end)} MB`,
  );
  assert.deepEqual(report.failures, [], `seed ${SEED}`);
  assert.ok(alive, "the node is still running");
  assert.ok(report.accepted > 0, "some items were valid and accepted");
  for (const code of [
    "err_invalid_signature",
    "err_invalid_item",
    "err_invalid_tags",
    "err_duplicate_item",
  ])
    assert.ok(report.refused[code], `some items were refused with ${code}`);
  const growth = report.rss.end - report.rss.afterWarmup;
  assert.ok(growth < 32 * 2 ** 20, `the node's memory grew by ${mb(growth)} MB after the warm-up`);
});
