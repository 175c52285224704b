import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { test } from "node:test";
import { assignmentContentKey, assignmentItem, outboxEntries } from "../../src/node/outgoing.js";
import { toB64Url } from "../../src/protocol/base64url.js";
import type { VmmResult } from "../../src/protocol/hymx.js";
import { ArweaveSigner, EthereumSigner } from "../../src/protocol/signers.js";
import { contentKeyOf } from "../../src/store/content-index.js";

const id = () => toB64Url(randomBytes(32));
const [A, B, C, MSG] = [id(), id(), id(), id()];

const result = (assignments: unknown[]): VmmResult =>
  ({
    Nonce: "1",
    Timestamp: "0",
    "Item-Id": MSG,
    "From-Process": A,
    "Pushed-For": MSG,
    Messages: [],
    Spawns: [],
    Assignments: assignments,
    Output: null,
    Data: "",
    Error: "",
  }) as VmmResult;

test("the same assignment signed twice has one content key, which is found without signing (Ethereum and Arweave keys)", () => {
  const jwk = generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey.export({
    format: "jwk",
  });
  for (const signer of [new EthereumSigner(`0x${"42".repeat(32)}`), new ArweaveSigner(jwk)]) {
    const one = assignmentItem(B, MSG, signer);
    const two = assignmentItem(B, MSG, signer);
    assert.ok(one.verify());
    assert.equal(one.tag("Type"), "Assignment");
    assert.equal(one.targetId, B);
    assert.equal(contentKeyOf(one), contentKeyOf(two));
    assert.equal(assignmentContentKey(B, MSG, signer), contentKeyOf(one));
    assert.notEqual(assignmentContentKey(C, MSG, signer), contentKeyOf(one), "per target");
  }
});

test("a result's Assignments become one outbox entry per (message, process id); malformed ones are skipped", () => {
  const signer = new EthereumSigner(`0x${"42".repeat(32)}`);
  const entries = outboxEntries(
    A,
    result([
      { Processes: [B, C, B, "not-a-process"], Message: MSG },
      { Processes: B, Message: MSG },
      { Message: MSG },
      { Processes: [B], Message: "\ud800".repeat(5000) },
      "junk",
    ]),
    signer,
  );
  assert.deepEqual(
    entries.map((e) => [e.kind, e.pid, e.target]),
    [
      ["assignment", A, B],
      ["assignment", A, C],
    ],
  );
  assert.ok(
    entries.every((e) => e.item.tags?.some((t) => t.name === "Message" && t.value === MSG)),
  );
});
