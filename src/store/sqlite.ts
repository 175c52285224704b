import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { ProtocolError } from "../protocol/errors.js";
import type { VmmResult } from "../protocol/hymx.js";
import { storedContentKey } from "./content-index.js";
import {
  assignedAt,
  indexEntry,
  type IndexedItem,
  type ItemPage,
  type ItemQuery,
} from "./item-index.js";
import { SqliteItemIndex } from "./sqlite-index.js";
import type { OutboxEntry, ResultsQuery, Store, StoredItem } from "./types.js";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS processes (pid TEXT PRIMARY KEY, nonce INTEGER NOT NULL, checkpoint TEXT);
CREATE TABLE IF NOT EXISTS messages (
  pid TEXT NOT NULL, nonce INTEGER NOT NULL, id TEXT NOT NULL UNIQUE, item TEXT NOT NULL, assignment TEXT NOT NULL,
  PRIMARY KEY (pid, nonce)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
  id TEXT PRIMARY KEY, pid TEXT NOT NULL, seq INTEGER NOT NULL, nonce INTEGER NOT NULL, result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_by_pid ON results (pid, seq);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, entry TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cache (pid TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (pid, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS contents (key TEXT PRIMARY KEY, id TEXT NOT NULL) WITHOUT ROWID;
`;

/** user_version 1: every stored item's content key is in `contents`. */
const CONTENT_INDEXED = 1;

/** The embedded default store: one SQLite file, WAL, fsync on every commit. */
export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly index: SqliteItemIndex;

  constructor(path: string) {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec(SCHEMA);
    this.index = new SqliteItemIndex(this.db);
    const p = (sql: string) => this.db.prepare(sql);
    this.indexOldContent();
    this.stmt = {
      nonce: p("SELECT nonce FROM processes WHERE pid = ?"),
      upsertNonce: p(
        "INSERT INTO processes (pid, nonce) VALUES (?, ?) ON CONFLICT(pid) DO UPDATE SET nonce = excluded.nonce",
      ),
      insertMessage: p(
        "INSERT INTO messages (pid, nonce, id, item, assignment) VALUES (?, ?, ?, ?, ?)",
      ),
      byNonce: p("SELECT item, assignment FROM messages WHERE pid = ? AND nonce = ?"),
      locate: p("SELECT pid, nonce FROM messages WHERE id = ?"),
      insertResult: p(
        "INSERT OR REPLACE INTO results (id, pid, seq, nonce, result) VALUES (?, ?, COALESCE((SELECT seq FROM results WHERE id = ?), (SELECT COUNT(*) FROM results WHERE pid = ?)), ?, ?)",
      ),
      result: p("SELECT result FROM results WHERE id = ?"),
      resultCount: p("SELECT COUNT(*) AS n FROM results WHERE pid = ?"),
      addOutbox: p("INSERT OR IGNORE INTO outbox (id, entry) VALUES (?, ?)"),
      pendingOutbox: p("SELECT entry FROM outbox ORDER BY seq"),
      outboxDone: p("DELETE FROM outbox WHERE id = ?"),
      setCache: p("INSERT OR REPLACE INTO cache (pid, key, value) VALUES (?, ?, ?)"),
      cache: p("SELECT value FROM cache WHERE pid = ? AND key = ?"),
      processes: p("SELECT pid FROM processes ORDER BY pid"),
      setCheckpoint: p("UPDATE processes SET checkpoint = ? WHERE pid = ?"),
      checkpoint: p("SELECT checkpoint FROM processes WHERE pid = ?"),
      insertContent: p("INSERT INTO contents (key, id) VALUES (?, ?)"),
      contentOwner: p("SELECT id FROM contents WHERE key = ?"),
    };
  }

  /** A store written before content keys existed gets them once, from its stored items. */
  private indexOldContent(): void {
    if ((this.db.pragma("user_version", { simple: true }) as number) >= CONTENT_INDEXED) return;
    const add = this.db.prepare("INSERT OR IGNORE INTO contents (key, id) VALUES (?, ?)");
    const page = this.db.prepare(
      "SELECT pid, nonce, item FROM messages WHERE (pid, nonce) > (?, ?) ORDER BY pid, nonce LIMIT 500",
    );
    this.db.transaction(() => {
      let after: [string, number] = ["", -1];
      for (;;) {
        const rows = page.all(...after) as { pid: string; nonce: number; item: string }[];
        if (rows.length === 0) break;
        for (const row of rows) {
          const item = JSON.parse(row.item) as StoredItem;
          const key = storedContentKey(item);
          if (key) add.run(key, item.id);
        }
        const last = rows.at(-1)!;
        after = [last.pid, last.nonce];
      }
      this.db.pragma(`user_version = ${CONTENT_INDEXED}`);
    })();
  }

  async nonce(pid: string): Promise<number> {
    const row = this.stmt.nonce.get(pid) as { nonce: number } | undefined;
    return row ? row.nonce : -1;
  }

  async append(
    pid: string,
    nonce: number,
    item: StoredItem,
    assignment: StoredItem,
    contentKey?: string,
  ): Promise<void> {
    this.db.transaction(() => {
      if (contentKey) {
        try {
          this.stmt.insertContent.run(contentKey, item.id);
        } catch (err) {
          if ((err as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY")
            throw new ProtocolError("err_duplicate_item", "this signed content is already stored");
          throw err;
        }
      }
      this.stmt.insertMessage.run(
        pid,
        nonce,
        item.id,
        JSON.stringify(item),
        JSON.stringify(assignment),
      );
      this.stmt.upsertNonce.run(pid, nonce);
      this.index.add(indexEntry(item, assignedAt(assignment)));
    })();
  }

  async contentOwner(contentKey: string): Promise<string | null> {
    return (this.stmt.contentOwner.get(contentKey) as { id: string } | undefined)?.id ?? null;
  }

  async indexItems(items: IndexedItem[]): Promise<void> {
    this.db.transaction(() => {
      for (const item of items) this.index.add(item);
    })();
  }

  async queryItems(query: ItemQuery): Promise<ItemPage> {
    return this.index.query(query);
  }

  private row(pid: string, nonce: number) {
    return this.stmt.byNonce.get(pid, nonce) as { item: string; assignment: string } | undefined;
  }

  async messageByNonce(pid: string, nonce: number): Promise<StoredItem | null> {
    const r = this.row(pid, nonce);
    return r ? (JSON.parse(r.item) as StoredItem) : null;
  }

  async assignmentByNonce(pid: string, nonce: number): Promise<StoredItem | null> {
    const r = this.row(pid, nonce);
    return r ? (JSON.parse(r.assignment) as StoredItem) : null;
  }

  async locate(msgId: string): Promise<{ pid: string; nonce: number } | null> {
    return (this.stmt.locate.get(msgId) as { pid: string; nonce: number } | undefined) ?? null;
  }

  async saveResult(pid: string, result: VmmResult, outbox: OutboxEntry[] = []): Promise<void> {
    const { Cache: cache, ...stored } = result;
    this.db.transaction(() => {
      for (const e of outbox) this.stmt.addOutbox.run(e.id, JSON.stringify(e));
      this.stmt.insertResult.run(
        stored["Item-Id"],
        pid,
        stored["Item-Id"],
        pid,
        Number(stored.Nonce),
        JSON.stringify(stored),
      );
      for (const [k, v] of Object.entries(cache ?? {})) this.stmt.setCache.run(pid, k, v);
    })();
  }

  async pendingOutbox(): Promise<OutboxEntry[]> {
    return (this.stmt.pendingOutbox.all() as { entry: string }[]).map(
      (r) => JSON.parse(r.entry) as OutboxEntry,
    );
  }

  async outboxDone(id: string): Promise<void> {
    this.stmt.outboxDone.run(id);
  }

  async result(msgId: string): Promise<VmmResult | null> {
    const r = this.stmt.result.get(msgId) as { result: string } | undefined;
    return r ? (JSON.parse(r.result) as VmmResult) : null;
  }

  async results(pid: string, q: ResultsQuery): Promise<VmmResult[]> {
    const where = ["pid = ?"];
    const args: (string | number)[] = [pid];
    const bound = (sql: string, value: number | undefined) => {
      if (value === undefined) return;
      where.push(sql);
      args.push(value);
    };
    bound("nonce >= ?", q.minNonce);
    bound("nonce <= ?", q.maxNonce);
    const ts = "CAST(json_extract(result, '$.Timestamp') AS INTEGER)";
    bound(`${ts} >= ?`, q.minTimestamp);
    bound(`${ts} <= ?`, q.maxTimestamp);
    const sql = `SELECT result FROM results WHERE ${where.join(" AND ")} ORDER BY seq ${q.sort === "DESC" ? "DESC" : "ASC"} LIMIT ?`;
    const rows = this.db.prepare(sql).all(...args, q.limit) as { result: string }[];
    return rows.map((r) => JSON.parse(r.result) as VmmResult);
  }

  async resultCount(pid: string): Promise<number> {
    return (this.stmt.resultCount.get(pid) as { n: number }).n;
  }

  async cache(pid: string, key: string): Promise<string> {
    return (this.stmt.cache.get(pid, key) as { value: string } | undefined)?.value ?? "";
  }

  async processes(): Promise<string[]> {
    return (this.stmt.processes.all() as { pid: string }[]).map((r) => r.pid);
  }

  async setCheckpoint(pid: string, itemId: string): Promise<void> {
    this.stmt.setCheckpoint.run(itemId, pid);
  }

  async checkpoint(pid: string): Promise<string | null> {
    return (
      (this.stmt.checkpoint.get(pid) as { checkpoint: string | null } | undefined)?.checkpoint ??
      null
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
