import assert from "node:assert/strict";
import { test } from "node:test";
import { DataItem } from "../../src/protocol/data-item.js";
import {
  extractParams,
  messageTags,
  moduleFromTags,
  moduleTags,
  processParamTags,
  processTags,
  ResultSchema,
} from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";

const signer = new EthereumSigner(
  "64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b",
);
const pid = Buffer.alloc(32, 1).toString("base64url");

test("message params: protocol tags excluded, Action/Sequence/Pushed-For to Meta, empty dropped, Data decoded", () => {
  const item = DataItem.sign(
    {
      target: pid,
      data: "hello ✓",
      tags: [
        { name: "SDK-Timestamp", value: "1" },
        ...messageTags({
          action: "Echo",
          sequence: 3,
          pushedFor: "p",
          params: [
            { name: "Foo", value: "bar" },
            { name: "Blank", value: "" },
            { name: "Read-Only", value: "x" },
          ],
        }),
      ],
    },
    signer,
  );
  assert.deepEqual(extractParams(item, "Message"), {
    "SDK-Timestamp": "1",
    Foo: "bar",
    Data: "hello ✓",
  });
});

test("a user Data tag is discarded in favour of the item data; duplicate tags reject with upstream's text", () => {
  const item = DataItem.sign(
    { target: pid, data: "real", tags: [...messageTags({}), { name: "Data", value: "fake" }] },
    signer,
  );
  assert.equal(extractParams(item, "Message").Data, "real");
  const dup = DataItem.sign(
    { target: pid, tags: [...messageTags({ action: "A" }), { name: "Action", value: "B" }] },
    signer,
  );
  assert.throws(() => extractParams(dup, "Message"), { message: "duplicate tag: Action" });
});

test("spawn params drop Module, Scheduler, Pushed-For and From-Process; Process.Tags keeps item order", () => {
  const item = DataItem.sign(
    {
      tags: processTags({
        module: "m",
        scheduler: "s",
        params: [
          { name: "Name", value: "n" },
          { name: "Runtime-Backend", value: "docker" },
        ],
        pushedFor: "p",
      }),
    },
    signer,
  );
  assert.deepEqual(extractParams(item, "Process"), { Name: "n", "Runtime-Backend": "docker" });
  assert.deepEqual(processParamTags(item), [
    { name: "Name", value: "n" },
    { name: "Runtime-Backend", value: "docker" },
  ]);
});

test("module tags keep upstream order with empty limits, and parse back into the Module object", () => {
  const tags = moduleTags({
    moduleFormat: "hymx.vmdocker.v0.0.1",
    tags: [{ name: "Image-Name", value: "i" }],
  });
  assert.deepEqual(
    tags.map((t) => `${t.name}=${t.value}`),
    [
      "Data-Protocol=hymx",
      "Variant=v0.1.0",
      "Type=Module",
      "Module-Format=hymx.vmdocker.v0.0.1",
      "Memory-Limit=",
      "Compute-Limit=",
      "Image-Name=i",
    ],
  );
  const m = moduleFromTags(tags);
  assert.equal(m["Module-Format"], "hymx.vmdocker.v0.0.1");
  assert.deepEqual(m.Tags, [{ name: "Image-Name", value: "i" }]);
  assert.throws(
    () => moduleFromTags(processTags({ module: "m", scheduler: "s" })),
    /err_invalid_type/,
  );
});

test("a VM Result with a string Error is refused, as upstream's unmarshal does", () => {
  assert.equal(ResultSchema.safeParse({ Data: "Pong", Messages: [] }).success, true);
  assert.equal(ResultSchema.safeParse({ Data: "x", Error: "boom" }).success, false);
});
