import type Database from "better-sqlite3";
import { type IndexedItem, type ItemPage, type ItemQuery } from "./item-index.js";

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
`;

/** Conditions are sized up to this many rows when the query picks the one to walk. */
const ESTIMATE_CAP = 1000;

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

  constructor(private readonly db: Database.Database) {
    db.exec(INDEX_SCHEMA);
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
    for (const t of item.tags) this.insertTag.run(t.name, t.value, seq);
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

  query(q: ItemQuery): ItemPage {
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
        size: this.size(
          `SELECT 1 FROM gql_tags WHERE name = ? AND value IN (${marks(c.values.length)})`,
          [c.name, ...c.values],
        ),
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
      const test =
        c.op === "EQ"
          ? `value IN (${marks(c.values.length)})`
          : `value NOT IN (${marks(c.values.length)})`;
      where.push(
        `EXISTS (SELECT 1 FROM gql_tags t WHERE t.seq = i.seq AND t.name = ? AND t.${test})`,
      );
      args.push(c.name, ...c.values);
    });
    if (q.after !== undefined) {
      where.push(`${seqCol} ${dir === "DESC" ? "<" : ">"} ?`);
      args.push(q.after);
    }
    const sql = `SELECT i.seq, i.id, i.owner, i.target, i.ts, i.tags FROM ${from}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${seqCol} ${dir} LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.first + 1) as Row[];
    return { items: rows.slice(0, q.first).map(toItem), hasNextPage: rows.length > q.first };
  }
}
