import type Database from "better-sqlite3";
import {
  type IndexedItem,
  type ItemPage,
  type ItemQuery,
  type TagCondition,
} from "./item-index.js";

export const INDEX_SCHEMA = `
CREATE TABLE IF NOT EXISTS gql_items (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL,
  target TEXT NOT NULL, ts INTEGER NOT NULL, tags TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS gql_items_owner ON gql_items (owner, seq);
CREATE INDEX IF NOT EXISTS gql_items_target ON gql_items (target, seq);
CREATE TABLE IF NOT EXISTS gql_tags (
  name TEXT NOT NULL, value TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (name, value, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gql_tag_counts (
  name TEXT NOT NULL, value TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (name, value)
) WITHOUT ROWID;
`;

/** Counts for an index written before gql_tag_counts existed (once; a second run adds nothing). */
const BACKFILL_COUNTS = `
INSERT OR IGNORE INTO gql_tag_counts (name, value, n)
  SELECT name, value, count(*) FROM gql_tags GROUP BY name, value`;

/** Owner and recipient conditions are sized up to this many rows (tags are counted exactly). */
const ESTIMATE_CAP = 10_000;

type Row = { seq: number; id: string; owner: string; target: string; ts: number; tags: string };

const toItem = (r: Row): IndexedItem & { seq: number } => ({
  seq: r.seq,
  id: r.id,
  owner: r.owner,
  target: r.target,
  timestamp: r.ts,
  tags: JSON.parse(r.tags) as IndexedItem["tags"],
});

const marks = (n: number) => Array.from({ length: n }, () => "?").join(",");

/**
 * The gateway index in SQLite: one row per item and one per (tag name, value), each keyed so a
 * page is read by walking one index in `seq` order. A query starts from its most selective
 * condition (owners, recipients or one EQ tag, sized by a bounded count), so finding a process by
 * owner and Name reads a handful of rows however many items the node holds.
 */
export class SqliteItemIndex {
  private readonly insertItem;
  private readonly insertTag;
  private readonly countTag;

  constructor(private readonly db: Database.Database) {
    db.exec(INDEX_SCHEMA);
    db.transaction(() => {
      const empty = (sql: string) => db.prepare(sql).get() === undefined;
      if (empty("SELECT 1 FROM gql_tag_counts LIMIT 1") && !empty("SELECT 1 FROM gql_tags LIMIT 1"))
        db.exec(BACKFILL_COUNTS);
    }).immediate();
    this.countTag = db.prepare(
      "INSERT INTO gql_tag_counts (name, value, n) VALUES (?, ?, 1) ON CONFLICT (name, value) DO UPDATE SET n = n + 1",
    );
    this.insertItem = db.prepare(
      "INSERT OR IGNORE INTO gql_items (id, owner, target, ts, tags) VALUES (?, ?, ?, ?, ?)",
    );
    this.insertTag = db.prepare(
      "INSERT OR IGNORE INTO gql_tags (name, value, seq) VALUES (?, ?, ?)",
    );
  }

  /** Adds an item (nothing when its id is indexed already). Call inside the writer's transaction. */
  add(item: IndexedItem): void {
    const res = this.insertItem.run(
      item.id,
      item.owner,
      item.target,
      item.timestamp,
      JSON.stringify(item.tags),
    );
    if (res.changes === 0) return;
    const seq = Number(res.lastInsertRowid);
    for (const t of item.tags)
      if (this.insertTag.run(t.name, t.value, seq).changes) this.countTag.run(t.name, t.value);
  }

  /**
   * How many rows a condition matches, counted up to ESTIMATE_CAP: enough to pick the smallest
   * condition without reading a large one through.
   */
  private size(sql: string, args: unknown[]): number {
    const row = this.db
      .prepare(`SELECT count(*) AS n FROM (${sql} LIMIT ${ESTIMATE_CAP})`)
      .get(...args);
    return (row as { n: number }).n;
  }

  /** How many items have the tag with one of the condition's values (kept on insert). */
  private tagCount(c: TagCondition): number {
    const row = this.db
      .prepare(
        `SELECT coalesce(sum(n), 0) AS n FROM gql_tag_counts WHERE name = ? AND value IN (${marks(c.values.length)})`,
      )
      .get(c.name, ...c.values);
    return (row as { n: number }).n;
  }

  query(q: ItemQuery): ItemPage {
    const { sql, args } = this.statement(q);
    const rows = this.db.prepare(sql).all(...args) as Row[];
    return { items: rows.slice(0, q.first).map(toItem), hasNextPage: rows.length > q.first };
  }

  /** SQLite's plan for a query (EXPLAIN QUERY PLAN's details, one line per step). */
  explain(q: ItemQuery): string[] {
    const { sql, args } = this.statement(q);
    const rows = this.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[];
    return rows.map((r) => r.detail);
  }

  /** The page's SELECT (one more row than `first`, to tell whether a next page exists). */
  private statement(q: ItemQuery): { sql: string; args: unknown[] } {
    const dir = q.sort === "ASC" ? "ASC" : "DESC";
    const where: string[] = [];
    const args: unknown[] = [];
    let from = "gql_items i";
    let seqCol = "i.seq";
    // The driving condition: the smallest of owners, recipients and the EQ tag filters.
    const drivers: { size: number; use: () => void }[] = [];
    if (q.ids?.length) {
      where.push(`i.id IN (${marks(q.ids.length)})`);
      args.push(...q.ids);
    }
    if (q.owners?.length) {
      const owners = q.owners;
      drivers.push({
        size: this.size(`SELECT 1 FROM gql_items WHERE owner IN (${marks(owners.length)})`, owners),
        use: () => {},
      });
    }
    if (q.recipients?.length) {
      const r = q.recipients;
      drivers.push({
        size: this.size(`SELECT 1 FROM gql_items WHERE target IN (${marks(r.length)})`, r),
        use: () => {},
      });
    }
    const tagConds = q.tags ?? [];
    let drivenTag = -1;
    tagConds.forEach((c, i) => {
      if (c.op !== "EQ") return;
      drivers.push({
        size: this.tagCount(c),
        use: () => {
          drivenTag = i;
        },
      });
    });
    if (!q.ids?.length && drivers.length) drivers.sort((a, b) => a.size - b.size)[0]!.use();
    if (drivenTag >= 0) {
      const c = tagConds[drivenTag]!;
      from = "gql_tags d JOIN gql_items i ON i.seq = d.seq";
      seqCol = "d.seq";
      where.push(`d.name = ? AND d.value IN (${marks(c.values.length)})`);
      args.push(c.name, ...c.values);
    }
    if (q.owners?.length) {
      where.push(`i.owner IN (${marks(q.owners.length)})`);
      args.push(...q.owners);
    }
    if (q.recipients?.length) {
      where.push(`i.target IN (${marks(q.recipients.length)})`);
      args.push(...q.recipients);
    }
    tagConds.forEach((c, i) => {
      if (i === drivenTag) return;
      if (c.op === "EQ")
        where.push(
          `EXISTS (SELECT 1 FROM gql_tags t WHERE t.name = ? AND t.value IN (${marks(c.values.length)}) AND t.seq = i.seq)`,
        );
      // gql_tags has no (seq, name) key: another value of the tag is read from the item's own tags.
      else
        where.push(
          `EXISTS (SELECT 1 FROM json_each(i.tags) j WHERE j.value ->> 'name' = ? AND j.value ->> 'value' NOT IN (${marks(c.values.length)}))`,
        );
      args.push(c.name, ...c.values);
    });
    if (q.after !== undefined) {
      where.push(`${seqCol} ${dir === "DESC" ? "<" : ">"} ?`);
      args.push(q.after);
    }
    const sql = `SELECT i.seq, i.id, i.owner, i.target, i.ts, i.tags FROM ${from}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${seqCol} ${dir} LIMIT ?`;
    return { sql, args: [...args, q.first + 1] };
  }
}
