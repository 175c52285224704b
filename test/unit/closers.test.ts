import assert from "node:assert/strict";
import { test } from "node:test";
import { lineLogger } from "../../src/log.js";
import { Closers } from "../../src/sys/closers.js";

test("shutdown runs every step, last started first; a failing step is logged and the rest still run; closing twice runs nothing again", async () => {
  const lines: string[] = [];
  const closers = new Closers(lineLogger((l) => lines.push(l)));
  const ran: string[] = [];
  closers.add("the store", () => ran.push("store"));
  closers.add("the HTTP server", async () => {
    ran.push("http");
    throw new Error("socket busy");
  });
  closers.add("the admin API", async () => {
    await new Promise((r) => setTimeout(r, 10));
    ran.push("admin");
  });
  await closers.close();
  assert.deepEqual(ran, ["admin", "http", "store"]);
  assert.deepEqual(lines, ['error: closing the HTTP server failed {"error":"socket busy"}']);
  await closers.close();
  assert.deepEqual(ran, ["admin", "http", "store"], "nothing runs twice");
});
