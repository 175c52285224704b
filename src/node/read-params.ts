import { z } from "zod";
import { VmdError } from "../errors.js";
import { ProtocolError } from "../protocol/errors.js";
import type { ResultsQuery } from "../store/types.js";
import { MAX_RESULT_WAIT_MS } from "./results.js";

export type Sort = "ASC" | "DESC";

/** At most this many results per page; a larger `limit` is err_invalid_limit. */
export const MAX_RESULTS_PAGE = 1000;

/**
 * A results cursor as AO's compute unit writes it: base64 of
 * `{"timestamp","ordinate","cron","sort"}`; here `ordinate` is the result's nonce and `sort` the
 * order of the page it came from.
 */
export function resultCursor(timestamp: string, nonce: string, sort: Sort): string {
  return Buffer.from(
    JSON.stringify({ timestamp: Number(timestamp), ordinate: nonce, cron: "1-10-minutes", sort }),
  ).toString("base64url");
}

const digits = (max: number) => z.string().regex(new RegExp(`^\\d{1,${max}}$`));
const CursorSchema = z.object({
  timestamp: z.union([z.number().int().nonnegative(), digits(16)]).optional(),
  ordinate: z.union([z.number().int().nonnegative(), digits(15)]),
  cron: z.string().max(64).nullable().optional(),
  sort: z.enum(["ASC", "DESC"]).optional(),
});

/** A bound: a cursor (a result's nonce, and the sort it was made for) or, as the CU reads any non-cursor, a timestamp. */
type Bound = { nonce: number; sort?: Sort } | { timestamp: number };

function parseBound(name: "from" | "to", raw: string): Bound {
  const bad = () =>
    new ProtocolError(
      "err_invalid_cursor",
      `${name} is neither a cursor from /results nor a timestamp in ms`,
    );
  if (raw.length > 1024 || !/^[A-Za-z0-9_+/=-]+$/.test(raw)) throw bad();
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(raw, "base64")));
  } catch {
    if (/^\d{1,16}$/.test(raw)) return { timestamp: Number(raw) };
    throw bad();
  }
  const cursor = CursorSchema.safeParse(json);
  if (!cursor.success) throw bad();
  return { nonce: Number(cursor.data.ordinate), sort: cursor.data.sort };
}

function parseLimit(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_RESULTS_PAGE)
    throw new VmdError(
      "err_invalid_limit",
      `limit ${raw} is not a whole number from 1 to ${MAX_RESULTS_PAGE}`,
      `pass limit=${MAX_RESULTS_PAGE} or less, and page on with from=<the last cursor>`,
    );
  return Number(raw);
}

/**
 * Reads `?wait=` (untrusted): absent is 0, else a whole number of milliseconds from 0 to
 * MAX_RESULT_WAIT_MS. Throws VmdError err_invalid_params otherwise (it was ignored before).
 */
export function parseWaitMs(raw: string | undefined): number {
  if (raw === undefined) return 0;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > MAX_RESULT_WAIT_MS)
    throw new VmdError(
      "err_invalid_params",
      `wait ${raw} is not a whole number of milliseconds from 0 to ${MAX_RESULT_WAIT_MS}`,
      `pass wait=${MAX_RESULT_WAIT_MS} or less (milliseconds), or leave it out`,
    );
  return Number(raw);
}

function parseSort(raw: string | undefined): Sort | undefined {
  if (raw === undefined) return undefined;
  const sort = raw.toUpperCase();
  if (sort !== "ASC" && sort !== "DESC")
    throw new ProtocolError("err_invalid_sort", `sort ${raw} is neither ASC nor DESC`);
  return sort;
}

export interface ResultsRequest {
  /** hymx's form (no from/to/sort): the last `limit` results, oldest first. */
  hymx: boolean;
  sort: Sort;
  query: ResultsQuery;
}

/**
 * Reads `/results/:pid` query parameters (untrusted), following AO's compute unit: `from` is
 * exclusive and `to` inclusive, a cursor's own sort wins over `sort`, a value that is not a cursor
 * is a timestamp, `limit` defaults to 25. Both bounds are read in the order of the sort, so a page's
 * last cursor passed back as `from` continues past it in either direction (the CU compares `from`
 * as a lower bound even for DESC, which returns the newest page again). Without from/to/sort it is
 * hymx's form: the last `limit` (default 5). Throws ProtocolError err_invalid_cursor,
 * err_invalid_limit or err_invalid_sort.
 */
export function parseResultsRequest(q: {
  from?: string;
  to?: string;
  sort?: string;
  limit?: string;
}): ResultsRequest {
  const sortParam = parseSort(q.sort);
  const from = q.from === undefined ? undefined : parseBound("from", q.from);
  const to = q.to === undefined ? undefined : parseBound("to", q.to);
  if (!from && !to && !sortParam) {
    const limit = parseLimit(q.limit, 5);
    return { hymx: true, sort: "DESC", query: { limit, sort: "DESC" } };
  }
  const cursorSort = [from, to].map((b) => (b && "sort" in b ? b.sort : undefined)).find(Boolean);
  const sort = cursorSort ?? sortParam ?? "ASC";
  const query: ResultsQuery = { limit: parseLimit(q.limit, 25), sort };
  const narrow = (key: "Nonce" | "Timestamp", min?: number, max?: number) => {
    const lo = `min${key}` as const;
    const hi = `max${key}` as const;
    if (min !== undefined) query[lo] = Math.max(query[lo] ?? min, min);
    if (max !== undefined) query[hi] = Math.min(query[hi] ?? max, max);
  };
  const apply = (b: Bound, exclusive: boolean) => {
    // ASC reads upwards: from is a lower bound, to an upper one; DESC reads downwards.
    const lower = (sort === "ASC") === exclusive;
    const step = exclusive ? 1 : 0;
    const [key, v] =
      "nonce" in b ? (["Nonce", b.nonce] as const) : (["Timestamp", b.timestamp] as const);
    if (lower) narrow(key, v + step, undefined);
    else narrow(key, undefined, v - step);
  };
  if (from) apply(from, true);
  if (to) apply(to, false);
  return { hymx: false, sort, query };
}
