import { fromB64Url } from "../protocol/base64url.js";
import { ownerAddress, type SignatureType } from "../protocol/signers.js";
import type { StoredItem } from "./types.js";

/**
 * One item in the gateway index (what the node's GraphQL `transactions` searches): every item the
 * node holds (spawns, messages, assignments it signed, modules in its catalog), numbered in the
 * order the node took them (`seq`, which stands in for Arweave's block height).
 */
export interface IndexedItem {
  id: string;
  /** The signer's address (Ethereum 0x… or Arweave base64url). */
  owner: string;
  /** The item's target (a process id), or "". */
  target: string;
  /** When the node took the item, in milliseconds. */
  timestamp: number;
  tags: { name: string; value: string }[];
  /** Filled in by the index. */
  seq?: number;
}

export interface TagCondition {
  name: string;
  values: string[];
  /** EQ: the item has the tag with one of the values; NEQ: it has the tag with another value. */
  op: "EQ" | "NEQ";
}

/** GraphQL `transactions` arguments after validation. */
export interface ItemQuery {
  ids?: string[];
  owners?: string[];
  recipients?: string[];
  tags?: TagCondition[];
  /** Items with seq strictly beyond this one (in the sort's direction). */
  after?: number;
  first: number;
  sort: "ASC" | "DESC";
}

export interface ItemPage {
  items: (IndexedItem & { seq: number })[];
  hasNextPage: boolean;
}

/** Searches the index answers at most this many candidates per page before it stops early. */
export const MAX_SCAN = 200_000;

/** An index entry for a signed item the node took at `timestamp` (ms). */
export function indexEntry(item: StoredItem, timestamp: number): IndexedItem {
  return {
    id: item.id,
    owner: ownerOf(item),
    target: item.target ?? "",
    timestamp,
    tags: (item.tags ?? []).map((t) => ({ name: t.name, value: t.value })),
  };
}

/** The signer's address of a stored item ("" when its owner field is not a key of its type). */
function ownerOf(item: StoredItem): string {
  try {
    return ownerAddress(item.signatureType as SignatureType, fromB64Url(item.owner, "owner"));
  } catch {
    return "";
  }
}

/** Does an indexed item satisfy every condition of the query (ids, owners, recipients, tags)? */
export function matchesQuery(item: IndexedItem, q: ItemQuery): boolean {
  if (q.ids?.length && !q.ids.includes(item.id)) return false;
  if (q.owners?.length && !q.owners.includes(item.owner)) return false;
  if (q.recipients?.length && !q.recipients.includes(item.target)) return false;
  for (const c of q.tags ?? []) {
    const values = item.tags.filter((t) => t.name === c.name).map((t) => t.value);
    const hit = values.some((v) => c.values.includes(v));
    if (c.op === "EQ" ? !hit : values.length === 0 || hit) return false;
  }
  return true;
}

/** When an assignment says its message was taken (its Timestamp tag, ms); now for a spawn's 0. */
export function assignedAt(assignment: StoredItem): number {
  const ts = Number(assignment.tags?.find((t) => t.name === "Timestamp")?.value ?? 0);
  return ts > 0 ? ts : Date.now();
}
