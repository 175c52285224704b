import { cursorOf } from "../../src/node/graphql.js";
import type { ItemQuery, TagCondition } from "../../src/store/item-index.js";

/** One timed GraphQL question: its request for round r, and the same as the index's query. */
export interface Lookup {
  name: string;
  request(round: number): { query: string; variables: object; check: (data: unknown) => void };
  plan(round: number): ItemQuery;
}

interface Args {
  owners?: string[];
  recipients?: string[];
  tags?: TagCondition[];
  first: number;
  sort: "HEIGHT_ASC" | "HEIGHT_DESC";
  /** An item's seq (its position in the index, from 1) to page after. */
  after?: number;
}

/** aos's query shape: transactions with edges { cursor node { id owner tags block } }. */
const QUERY = `query ($owners: [String!], $recipients: [String!], $tags: [TagFilter!], $first: Int, $after: String, $sort: SortOrder) {
  transactions(owners: $owners, recipients: $recipients, tags: $tags, first: $first, after: $after, sort: $sort) {
    pageInfo { hasNextPage }
    edges { cursor node { id owner { address } tags { name value } block { timestamp height } } }
  }
}`;

type Page = { transactions: { edges: { node: { id: string; block: { height: number } } }[] } };

function lookup(
  name: string,
  args: (r: number) => Args,
  expect: (r: number, ids: string[], heights: number[]) => string | null,
): Lookup {
  return {
    name,
    request(r) {
      const a = args(r);
      return {
        query: QUERY,
        variables: { ...a, after: a.after === undefined ? undefined : cursorOf(a.after) },
        check(data) {
          const edges = (data as Page).transactions.edges;
          const ids = edges.map((e) => e.node.id);
          const wrong = expect(
            r,
            ids,
            edges.map((e) => e.node.block.height),
          );
          if (wrong) throw new Error(`${name}: ${wrong}`);
        },
      };
    },
    plan(r) {
      const a = args(r);
      return { ...a, sort: a.sort === "HEIGHT_ASC" ? "ASC" : "DESC" };
    },
  };
}

const eq = (name: string, value: string): TagCondition => ({ name, values: [value], op: "EQ" });
const ao = (type: string) => [eq("Data-Protocol", "ao"), eq("Type", type)];
/** The corpus's owner k (an Ethereum-style address) and the id of its item `kind-i`. */
export const owner = (k: number) => `0x${k.toString(16).padStart(40, "0")}`;
export const pad = (kind: string, i: number) => `${kind}-${i}`.padEnd(43, "x");
const sorted = (h: number[], dir: 1 | -1) =>
  h.every((v, i) => i === 0 || (v - h[i - 1]!) * dir > 0);
const need = (n: number, ids: string[]) =>
  ids.length === n ? null : `${ids.length} items, not ${n}`;

/**
 * The lookups the scenario times over a corpus of `count` items (see corpusItem): aos's own
 * (a process by owner and Name, a module by Name), and the other shapes a gateway client asks.
 */
export function lookups(count: number): Lookup[] {
  const processes = Math.floor(count / 50);
  const proc = (r: number) => 50 * (1 + ((r * 7919) % (processes - 1)));
  const middle = Math.floor(count / 2);
  return [
    lookup(
      "aos: process by owner + Data-Protocol + Type + Name",
      (r) => ({
        owners: [owner(proc(r) % 10_000)],
        tags: [...ao("Process"), eq("Name", `proc-${proc(r)}`)],
        first: 1,
        sort: "HEIGHT_DESC",
      }),
      (r, ids) => (ids[0] === pad("process", proc(r)) ? null : `found ${ids[0]}`),
    ),
    lookup(
      "aos: module by Data-Protocol + Type + Name",
      (r) => ({
        tags: [...ao("Module"), eq("Name", `aos-lua-${r % 100}`)],
        first: 1,
        sort: "HEIGHT_DESC",
      }),
      (_r, ids) => need(1, ids),
    ),
    lookup(
      "modules by Type + Module-Format, 100 a page",
      () => ({
        tags: [eq("Type", "Module"), eq("Module-Format", "wasm32-unknown-emscripten4")],
        first: 100,
        sort: "HEIGHT_DESC",
      }),
      (_r, ids) => need(Math.min(100, Math.floor(count / 2000)), ids),
    ),
    lookup(
      "an owner's processes (owner + Type: Process), 100 a page",
      (r) => ({
        owners: [owner(r % 10_000)],
        tags: ao("Process"),
        first: 100,
        sort: "HEIGHT_DESC",
      }),
      (_r, ids) => (ids.every((i) => i.startsWith("process-")) ? null : "not only processes"),
    ),
    lookup(
      "messages to a busy process (recipients), 100 a page, newest first",
      () => ({ recipients: [pad("process", 0)], first: 100, sort: "HEIGHT_DESC" }),
      (_r, ids, h) => need(100, ids) ?? (sorted(h, -1) ? null : "not newest first"),
    ),
    lookup(
      "Action: Transfer, 100 a page, oldest first (sort)",
      () => ({ tags: [eq("Action", "Transfer")], first: 100, sort: "HEIGHT_ASC" }),
      (_r, ids, h) => need(100, ids) ?? (sorted(h, 1) ? null : "not oldest first"),
    ),
    lookup(
      "Action: Transfer, 100 a page, after the middle of the index (after)",
      (r) => ({
        tags: [eq("Action", "Transfer")],
        first: 100,
        sort: "HEIGHT_DESC",
        after: middle - r,
      }),
      (r, ids, h) =>
        need(100, ids) ??
        (h.every((x) => x < middle - r) && sorted(h, -1) ? null : "not after the cursor"),
    ),
    lookup(
      "processes, 100 a page, after an item up to 200,000 deep (paging)",
      (r) => ({
        tags: ao("Process"),
        first: 100,
        sort: "HEIGHT_ASC",
        after: (5000 * r) % Math.floor(count / 2),
      }),
      (_r, ids, h) => need(100, ids) ?? (sorted(h, 1) ? null : "not in order"),
    ),
    lookup(
      "an owner's messages with Action NEQ Transfer (NEQ), 100 a page",
      (r) => ({
        owners: [owner(r % 10_000)],
        tags: [eq("Type", "Message"), { name: "Action", values: ["Transfer"], op: "NEQ" }],
        first: 100,
        sort: "HEIGHT_DESC",
      }),
      () => null,
    ),
  ];
}
