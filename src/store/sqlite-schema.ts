import type { IndexedItem } from "./item-index.js";

/** The SQLite store's tables (created by whichever connection opens the file first). */
export const SCHEMA = `
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

/** One write, as the store hands it to its writer thread (JSON already serialised). */
export type WriteOp = { seq: number } & (
  | {
      op: "append";
      pid: string;
      nonce: number;
      id: string;
      item: string;
      assignment: string;
      /** The item's content key ("" for none): refused when another item holds it. */
      contentKey: string;
    }
  | {
      op: "result";
      pid: string;
      id: string;
      nonce: number;
      result: string;
      cache: [string, string][];
      /** Outbox entries the result emitted: [id, entry as JSON]. */
      outbox: [string, string][];
    }
  | { op: "checkpoint"; pid: string; itemId: string }
  | { op: "index"; items: IndexedItem[] }
  | { op: "outboxDone"; id: string }
);

/** The writer's answer for one write: stored (no error), or why not. */
export interface WriteAnswer {
  seq: number;
  error?: string;
}
