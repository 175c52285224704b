import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { getIntrospectionQuery } from "graphql";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { cursorOf } from "../../src/node/graphql.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { ECHO_FORMAT, echoFactory } from "../helpers/echo-vm.js";

// Hostile GraphQL bodies against a real node: each is refused quickly with a GraphQL error, and
// the node still answers a normal lookup afterwards.
const base = mkdtempSync(join(tmpdir(), "vmd-gql-"));
let running: RunningNode;

before(async () => {
  const vms = new VmRegistry();
  vms.mount(ECHO_FORMAT, echoFactory);
  running = await startNode(loadConfig(undefined, { VMDOCKER_PORT: ":0" }), {
    baseDir: base,
    vms,
    log: () => {},
  });
});
after(async () => {
  await running?.close();
  rmSync(base, { recursive: true, force: true });
});

async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${running.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, json };
}

const message = (r: { json: Record<string, unknown> }) =>
  ((r.json.errors as { message: string }[] | undefined) ?? []).map((e) => e.message).join(" | ");

const AOS = `query ($owners: [String!], $first: Int) {
  transactions(owners: $owners, first: $first, tags: [{name: "Data-Protocol", values: ["ao"]}, {name: "Type", values: ["Process"]}, {name: "Name", values: ["x"]}]) {
    edges { cursor node { id owner { address } tags { name value } block { timestamp height } } }
  }
}`;

test("aos's lookup at the largest page and the standard introspection query are answered", async () => {
  const aos = await post({ query: AOS, variables: { owners: ["0xabc"], first: 100 } });
  assert.equal(aos.status, 200, message(aos));
  assert.deepEqual(aos.json, { data: { transactions: { edges: [] } } });
  const intro = await post({ query: getIntrospectionQuery() });
  assert.equal(intro.status, 200, message(intro));
  const types = (intro.json.data as { __schema: { types: { name: string }[] } }).__schema.types;
  assert.ok(types.some((t) => t.name === "Transaction"));
  assert.ok(
    types.length < 40,
    "the cost rule's introspection fan-out (40) still bounds the schema",
  );
});

test("a document nested past the depth limit is refused, also when the nesting hides in fragments", async () => {
  let q = "name";
  for (let i = 0; i < 20; i++) q = `ofType { ${q} }`;
  const deep = await post({ query: `{ __schema { types { ${q} } } }` });
  assert.equal(deep.status, 400);
  assert.match(message(deep), /nests deeper than 16 levels/);
  const frags = Array.from(
    { length: 20 },
    (_, i) => `fragment F${i} on __Type { ofType { ${i < 19 ? `...F${i + 1}` : "name"} } }`,
  ).join("\n");
  const hidden = await post({ query: `{ __schema { types { ...F0 } } }\n${frags}` });
  assert.equal(hidden.status, 400);
  assert.match(message(hidden), /nests deeper than 16 levels/);
});

test("fragments that multiply each other (a small document asking for billions of fields) are refused before they run", async () => {
  // Each fragment spreads the next ten times under aliases: 10^8 copies of the leaf.
  const frags = Array.from({ length: 8 }, (_, i) => {
    const next = i < 7 ? `...F${i + 1}` : "name";
    const aliased = Array.from({ length: 10 }, (_, k) => `a${k}: ofType { ${next} }`).join(" ");
    return `fragment F${i} on __Type { ${aliased} }`;
  }).join("\n");
  const bomb = await post({ query: `{ __schema { queryType { ...F0 } } }\n${frags}` });
  assert.equal(bomb.status, 400);
  assert.match(message(bomb), /could answer more than 500,000 fields/);

  // The same through root fields spread from a fragment (the root-field count never sees them).
  const roots = Array.from(
    { length: 60 },
    (_, k) => `t${k}: transactions(first: 100) { edges { node { tags { name value } } } }`,
  ).join(" ");
  const wide = await post({ query: `{ ...R }\nfragment R on Query { ${roots} }` });
  assert.equal(wide.status, 400);
  assert.match(message(wide), /could answer more than 500,000 fields/);
  const cycle = await post({
    query: `{ __schema { types { ...A } } }\nfragment A on __Type { ofType { ...A } }`,
  });
  assert.equal(cycle.status, 400);
  assert.match(message(cycle), /Cannot spread fragment "A" within itself/);
});

test("first, cursors, list sizes and the body itself are bounded", async () => {
  const q = (args: string) => post({ query: `{ transactions(${args}) { edges { cursor } } }` });
  const over = await q("first: 101");
  assert.match(message(over), /bad arguments: first Too big: expected number to be <=100/);
  const negative = await q("first: -1");
  assert.match(message(negative), /bad arguments: first Too small: expected number to be >=0/);
  for (const bad of [
    "garbage",
    Buffer.from("seq:-4").toString("base64url"),
    Buffer.from("seq:1e9").toString("base64url"),
    Buffer.from(`seq:${"9".repeat(16)}`).toString("base64url"),
  ]) {
    const r = await q(`after: ${JSON.stringify(bad)}`);
    assert.equal(r.status, 200);
    assert.match(message(r), /after: ".*" is not a cursor of this node/, bad);
  }
  const good = await q(`after: ${JSON.stringify(cursorOf(5))}`);
  assert.equal(message(good), "");
  const longCursor = await q(`after: ${JSON.stringify("x".repeat(201))}`);
  assert.match(
    message(longCursor),
    /bad arguments: after Too big: expected string to have <=200 characters/,
  );
  const owners = JSON.stringify(Array.from({ length: 101 }, (_, i) => `o${i}`));
  assert.match(
    message(await q(`owners: ${owners}`)),
    /bad arguments: owners Too big: expected array to have <=100 items/,
  );
  const tags = JSON.stringify(
    Array.from({ length: 21 }, () => ({ name: "a", values: ["b"] })),
  ).replace(/"(name|values)"/g, "$1");
  assert.match(
    message(await q(`tags: ${tags}`)),
    /bad arguments: tags Too big: expected array to have <=20 items/,
  );

  const huge = await post({
    query: `{ transactions { edges { cursor } } } #${"x".repeat(20_001)}`,
  });
  assert.equal(huge.status, 400);
  assert.match(
    message(huge),
    /bad request: query Too big: expected string to have <=20000 characters/,
  );
  const tokens = await post({ query: `{ ${'transaction(id: "a") { id } '.repeat(600)} }` });
  assert.equal(tokens.status, 400);
  assert.match(message(tokens), /Document contains more tha[nt] 4000 tokens/);
  const aliases = await post({
    query: `{ ${Array.from({ length: 6 }, (_, i) => `t${i}: transaction(id: "a") { id }`).join(" ")} }`,
  });
  assert.equal(aliases.status, 400);
  assert.match(message(aliases), /at most 5 root fields per request/);
  const notJson = await post("{ not json");
  assert.equal(notJson.status, 400);
  assert.match(message(notJson), /the body is not JSON/);
  const vars = await post({ query: AOS, variables: { owners: "not a list", first: 1e9 } });
  assert.notEqual(message(vars), "");

  // After all that, the node still answers the normal lookup.
  const ok = await post({ query: AOS, variables: { owners: ["0xabc"], first: 10 } });
  assert.equal(ok.status, 200, message(ok));
});
