import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { ProtocolError } from "../protocol/errors.js";
import type { VmmResult } from "../protocol/hymx.js";
import { storedContentKey } from "./content-index.js";
import { assignedAt, type IndexedItem, type ItemPage, type ItemQuery } from "./item-index.js";
import { SqliteItemIndex } from "./sqlite-index.js";
import { SCHEMA, type WriteAnswer, type WriteOp } from "./sqlite-schema.js";
import type { OutboxEntry, ResultsQuery, Store, StoredItem } from "./types.js";

type Write = WriteOp extends infer O ? (O extends WriteOp ? Omit<O, "seq"> : never) : never;

/** user_version 1: every stored item's content key is in `contents`. */
const CONTENT_INDEXED = 1;

/**
 * The embedded default store: one SQLite file in WAL mode. Reads run on this thread; writes go
 * to a writer thread (sqlite-writer.ts) that commits whatever has queued up in one transaction
 * with synchronous=FULL, so a write resolves only once it is on disk, one fsync serves many
 * writes, and this thread never blocks on the disk. Writes resolve in the order they were made.
 */
export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly writer: Worker;
  /** The gateway index, read here (its rows are written by the writer thread). */
  private readonly index: SqliteItemIndex;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private outgoing: WriteOp[] = [];
  private seq = 0;
  private broken?: Error;

  /** `path`: the database file (its folder is created). */
  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("busy_timeout = 5000");
    this.db.exec(SCHEMA);
    this.index = new SqliteItemIndex(this.db);
    const p = (sql: string) => this.db.prepare(sql);
    this.indexOldContent();
    this.stmt = {
      nonce: p("SELECT nonce FROM processes WHERE pid = ?"),
      byNonce: p("SELECT item, assignment FROM messages WHERE pid = ? AND nonce = ?"),
      locate: p("SELECT pid, nonce FROM messages WHERE id = ?"),
      result: p("SELECT result FROM results WHERE id = ?"),
      resultCount: p("SELECT COUNT(*) AS n FROM results WHERE pid = ?"),
      cache: p("SELECT value FROM cache WHERE pid = ? AND key = ?"),
      pendingOutbox: p("SELECT entry FROM outbox ORDER BY seq"),
      processes: p("SELECT pid FROM processes ORDER BY pid"),
      checkpoint: p("SELECT checkpoint FROM processes WHERE pid = ?"),
      contentOwner: p("SELECT id FROM contents WHERE key = ?"),
    };
    this.writer = new Worker(new URL("./sqlite-writer.js", import.meta.url), {
      workerData: { path },
    });
    this.writer.unref();
    this.writer.on("message", (answers: WriteAnswer[]) => {
      for (const a of answers) {
        const w = this.waiting.get(a.seq);
        this.waiting.delete(a.seq);
        if (a.error === undefined) w?.resolve();
        else w?.reject(writeError(a.error));
      }
      // Only writes in flight keep the process alive.
      if (this.waiting.size === 0) this.writer.unref();
    });
    this.writer.on("error", (err) => this.fail(err));
    this.writer.on("exit", () => this.fail(new Error("the store's writer thread stopped")));
  }

  /** Every write still waiting fails, and so does every later one. */
  private fail(err: Error): void {
    this.broken ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** Queues a write for the writer thread; the writes of one turn of the event loop travel together. */
  private write(op: Write): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const seq = ++this.seq;
    if (this.waiting.size === 0) this.writer.ref();
    const done = new Promise<void>((resolve, reject) => this.waiting.set(seq, { resolve, reject }));
    this.outgoing.push({ ...op, seq } as WriteOp);
    if (this.outgoing.length === 1)
      queueMicrotask(() => {
        const ops = this.outgoing;
        this.outgoing = [];
        this.writer.postMessage(ops);
      });
    return done;
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
    await this.write({
      op: "append",
      pid,
      nonce,
      id: item.id,
      item: JSON.stringify(item),
      assignment: JSON.stringify(assignment),
      contentKey: contentKey ?? "",
      takenAt: assignedAt(assignment),
    });
  }

  async contentOwner(contentKey: string): Promise<string | null> {
    return (this.stmt.contentOwner.get(contentKey) as { id: string } | undefined)?.id ?? null;
  }

  async indexItems(items: IndexedItem[]): Promise<void> {
    if (items.length) await this.write({ op: "index", items });
  }

  /** SQLite's plan for a gateway query (for benchmarks and diagnosis). */
  explainItems(query: ItemQuery): string[] {
    return this.index.explain(query);
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
    await this.write({
      op: "result",
      pid,
      id: stored["Item-Id"],
      nonce: Number(stored.Nonce),
      result: JSON.stringify(stored),
      cache: Object.entries(cache ?? {}),
      outbox: outbox.map((e) => [e.id, JSON.stringify(e)]),
    });
  }

  async pendingOutbox(): Promise<OutboxEntry[]> {
    return (this.stmt.pendingOutbox.all() as { entry: string }[]).map(
      (r) => JSON.parse(r.entry) as OutboxEntry,
    );
  }

  async outboxDone(id: string): Promise<void> {
    await this.write({ op: "outboxDone", id });
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
    await this.write({ op: "checkpoint", pid, itemId });
  }

  async checkpoint(pid: string): Promise<string | null> {
    return (
      (this.stmt.checkpoint.get(pid) as { checkpoint: string | null } | undefined)?.checkpoint ??
      null
    );
  }

  /** Waits for the writes already made, then closes both connections. */
  async close(): Promise<void> {
    await Promise.allSettled(
      [...this.waiting.keys()].map(
        (seq) =>
          new Promise<void>((resolve) => {
            const w = this.waiting.get(seq)!;
            this.waiting.set(seq, {
              resolve: () => (w.resolve(), resolve()),
              reject: (e) => (w.reject(e), resolve()),
            });
          }),
      ),
    );
    this.broken ??= new Error("the store is closed");
    this.writer.removeAllListeners("exit");
    const exited = new Promise((resolve) => this.writer.once("exit", resolve));
    this.writer.ref();
    this.writer.postMessage("close");
    await exited;
    this.db.close();
  }
}

/** The writer's error text as the error the caller sees: a second copy of a stored item is err_duplicate_item. */
function writeError(text: string): Error {
  if (/UNIQUE constraint failed: messages\.id/.test(text))
    return new ProtocolError("err_duplicate_item");
  if (/UNIQUE constraint failed: contents\.key/.test(text))
    return new ProtocolError("err_duplicate_item", "this signed content is already stored");
  return new Error(text);
}
