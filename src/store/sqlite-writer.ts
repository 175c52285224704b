// The SQLite store's writer, run in a worker thread (see sqlite.ts): every write of the node goes
// through here, and what arrives while a commit is being synced goes into the next one, so one
// fsync covers the items, assignments and results of many messages and processes (group commit),
// and the node's event loop never waits for the disk.
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import { assignedAt, indexEntry } from "./item-index.js";
import { SqliteItemIndex } from "./sqlite-index.js";
import { SCHEMA, type WriteAnswer, type WriteOp } from "./sqlite-schema.js";
import type { StoredItem } from "./types.js";

const db = new Database((workerData as { path: string }).path);
db.pragma("journal_mode = WAL");
db.pragma("synchronous = FULL");
db.pragma("busy_timeout = 5000");
db.exec(SCHEMA);
const index = new SqliteItemIndex(db);
const p = (sql: string) => db.prepare(sql);
const stmt = {
  nonce: p("SELECT nonce FROM processes WHERE pid = ?"),
  upsertNonce: p(
    "INSERT INTO processes (pid, nonce) VALUES (?, ?) ON CONFLICT(pid) DO UPDATE SET nonce = excluded.nonce",
  ),
  insertMessage: p(
    "INSERT INTO messages (pid, nonce, id, item, assignment) VALUES (?, ?, ?, ?, ?)",
  ),
  // A result keeps its place when it is saved again (rebuild); a new one goes last.
  insertResult: p(
    "INSERT OR REPLACE INTO results (id, pid, seq, nonce, result) VALUES (?, ?, COALESCE((SELECT seq FROM results WHERE id = ?), (SELECT MAX(seq) + 1 FROM results WHERE pid = ?), 0), ?, ?)",
  ),
  setCache: p("INSERT OR REPLACE INTO cache (pid, key, value) VALUES (?, ?, ?)"),
  setCheckpoint: p("UPDATE processes SET checkpoint = ? WHERE pid = ?"),
  addOutbox: p("INSERT OR IGNORE INTO outbox (id, entry) VALUES (?, ?)"),
  outboxDone: p("DELETE FROM outbox WHERE id = ?"),
  insertContent: p("INSERT INTO contents (key, id) VALUES (?, ?)"),
};

function apply(op: WriteOp): void {
  switch (op.op) {
    case "append": {
      const row = stmt.nonce.get(op.pid) as { nonce: number } | undefined;
      const current = row ? row.nonce : -1;
      // Nonces stay gap-free even when an earlier append of the same process failed.
      if (op.nonce !== current + 1)
        throw new Error(`err_nonce_gap: nonce ${op.nonce} after ${current} for ${op.pid}`);
      if (op.contentKey) stmt.insertContent.run(op.contentKey, op.id);
      stmt.insertMessage.run(op.pid, op.nonce, op.id, op.item, op.assignment);
      stmt.upsertNonce.run(op.pid, op.nonce);
      // The gateway index entry is made here, off the node's thread (it hashes the owner's key).
      const item = JSON.parse(op.item) as StoredItem;
      index.add(indexEntry(item, assignedAt(JSON.parse(op.assignment) as StoredItem)));
      return;
    }
    case "result":
      for (const [id, entry] of op.outbox) stmt.addOutbox.run(id, entry);
      stmt.insertResult.run(op.id, op.pid, op.id, op.pid, op.nonce, op.result);
      for (const [k, v] of op.cache) stmt.setCache.run(op.pid, k, v);
      return;
    case "checkpoint":
      stmt.setCheckpoint.run(op.itemId, op.pid);
      return;
    case "index":
      for (const item of op.items) index.add(item);
      return;
    case "outboxDone":
      stmt.outboxDone.run(op.id);
      return;
  }
}

let queue: WriteOp[] = [];
let scheduled = false;

/** Commits everything queued in one transaction; each write in its own savepoint, so one bad write fails alone. */
function flush(): void {
  scheduled = false;
  const batch = queue;
  queue = [];
  const answers: WriteAnswer[] = [];
  try {
    db.transaction(() => {
      for (const op of batch) {
        try {
          db.transaction(() => apply(op))();
          answers.push({ seq: op.seq });
        } catch (err) {
          answers.push({ seq: op.seq, error: err instanceof Error ? err.message : String(err) });
        }
      }
    })();
  } catch (err) {
    // The commit itself failed (disk full, I/O error): nothing of the batch is stored.
    const error = `the store's commit failed: ${err instanceof Error ? err.message : String(err)}`;
    answers.splice(0, answers.length, ...batch.map((op) => ({ seq: op.seq, error })));
  }
  parentPort!.postMessage(answers);
}

parentPort!.on("message", (ops: WriteOp[] | "close") => {
  if (ops === "close") {
    if (queue.length) flush();
    db.close();
    parentPort!.close();
    return;
  }
  queue.push(...ops);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});
