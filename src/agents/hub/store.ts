import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { HealthReport, TaskSpec, TaskStatus } from "../../runtimes/agent/wire.js";

export interface AgentRecord {
  name: string;
  profile: string;
  tokenHash: string;
  createdAt: number;
  lastSeen: number | null;
  health: HealthReport | null;
}

export type TaskState = "queued" | "dispatched" | "running" | TaskStatus;
export const FINISHED: ReadonlySet<TaskState> = new Set([
  "succeeded",
  "failed",
  "timeout",
  "cancelled",
  "interrupted",
]);

export interface TaskRecord {
  id: string;
  agent: string;
  spec: TaskSpec;
  status: TaskState;
  createdAt: number;
  dispatchedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  exitCode: number | null;
  output: string;
  error: string | null;
  /** How many times the hub sent it (a resend after a reconnect is answered from the agent's journal). */
  deliveries: number;
}

interface TaskRow {
  id: string;
  agent: string;
  spec: string;
  status: TaskState;
  created_at: number;
  dispatched_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  exit_code: number | null;
  output: string;
  error: string | null;
  deliveries: number;
}

const toTask = (r: TaskRow): TaskRecord => ({
  id: r.id,
  agent: r.agent,
  spec: JSON.parse(r.spec) as TaskSpec,
  status: r.status,
  createdAt: r.created_at,
  dispatchedAt: r.dispatched_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  exitCode: r.exit_code,
  output: r.output,
  error: r.error,
  deliveries: r.deliveries,
});

interface AgentRow {
  name: string;
  profile: string;
  token_hash: string;
  created_at: number;
  last_seen: number | null;
  health: string | null;
}

const toAgent = (r: AgentRow): AgentRecord => ({
  name: r.name,
  profile: r.profile,
  tokenHash: r.token_hash,
  createdAt: r.created_at,
  lastSeen: r.last_seen,
  health: r.health ? (JSON.parse(r.health) as HealthReport) : null,
});

/** The hub's agents and task queue in an embedded SQLite file (WAL, every commit synced). */
export class HubStore {
  private readonly db: Database.Database;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS agents (
        name TEXT PRIMARY KEY, profile TEXT NOT NULL, token_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL, last_seen INTEGER, health TEXT);
      CREATE TABLE IF NOT EXISTS tasks (
        id TEXT PRIMARY KEY, agent TEXT NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL,
        created_at INTEGER NOT NULL, dispatched_at INTEGER, started_at INTEGER,
        finished_at INTEGER, exit_code INTEGER, output TEXT NOT NULL DEFAULT '', error TEXT,
        deliveries INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS tasks_agent ON tasks (agent, seq);
    `);
  }

  addAgent(a: Pick<AgentRecord, "name" | "profile" | "tokenHash">): boolean {
    const r = this.db
      .prepare(
        "INSERT OR IGNORE INTO agents (name, profile, token_hash, created_at) VALUES (?, ?, ?, ?)",
      )
      .run(a.name, a.profile, a.tokenHash, Date.now());
    return r.changes === 1;
  }

  setToken(name: string, tokenHash: string): void {
    this.db.prepare("UPDATE agents SET token_hash = ? WHERE name = ?").run(tokenHash, name);
  }

  agent(name: string): AgentRecord | undefined {
    const r = this.db.prepare("SELECT * FROM agents WHERE name = ?").get(name) as
      AgentRow | undefined;
    return r && toAgent(r);
  }

  agents(): AgentRecord[] {
    return (this.db.prepare("SELECT * FROM agents ORDER BY name").all() as AgentRow[]).map(toAgent);
  }

  removeAgent(name: string): void {
    this.db.prepare("DELETE FROM agents WHERE name = ?").run(name);
  }

  seen(name: string, health?: HealthReport): void {
    if (health)
      this.db
        .prepare("UPDATE agents SET last_seen = ?, health = ? WHERE name = ?")
        .run(Date.now(), JSON.stringify(health), name);
    else this.db.prepare("UPDATE agents SET last_seen = ? WHERE name = ?").run(Date.now(), name);
  }

  addTask(id: string, agent: string, spec: TaskSpec): TaskRecord {
    this.db
      .prepare(
        "INSERT INTO tasks (id, agent, spec, status, created_at, seq) VALUES (?, ?, ?, 'queued', ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks))",
      )
      .run(id, agent, JSON.stringify(spec), Date.now());
    return this.task(id)!;
  }

  task(id: string): TaskRecord | undefined {
    const r = this.db.prepare("SELECT * FROM tasks WHERE id = ?").get(id) as TaskRow | undefined;
    return r && toTask(r);
  }

  tasks(agent: string, limit: number): TaskRecord[] {
    return (
      this.db
        .prepare("SELECT * FROM tasks WHERE agent = ? ORDER BY seq DESC LIMIT ?")
        .all(agent, limit) as TaskRow[]
    ).map(toTask);
  }

  /** Tasks the agent has not finished, oldest first: what to (re)send when it connects. */
  pending(agent: string): TaskRecord[] {
    return (
      this.db
        .prepare(
          "SELECT * FROM tasks WHERE agent = ? AND status IN ('queued', 'dispatched', 'running') ORDER BY seq",
        )
        .all(agent) as TaskRow[]
    ).map(toTask);
  }

  dispatched(id: string): void {
    this.db
      .prepare(
        "UPDATE tasks SET status = CASE status WHEN 'queued' THEN 'dispatched' ELSE status END, dispatched_at = ?, deliveries = deliveries + 1 WHERE id = ?",
      )
      .run(Date.now(), id);
  }

  started(id: string, at: number): void {
    this.db
      .prepare(
        "UPDATE tasks SET status = 'running', started_at = ? WHERE id = ? AND status IN ('queued', 'dispatched')",
      )
      .run(at, id);
  }

  /** Records the outcome once; false when the task had already finished. */
  finish(
    id: string,
    o: {
      status: TaskState;
      exitCode: number | null;
      output: string;
      error?: string | undefined;
      startedAt?: number;
      finishedAt: number;
    },
  ): boolean {
    const r = this.db
      .prepare(
        `UPDATE tasks SET status = ?, exit_code = ?, output = ?, error = ?,
           started_at = COALESCE(started_at, ?), finished_at = ?
         WHERE id = ? AND status IN ('queued', 'dispatched', 'running')`,
      )
      .run(o.status, o.exitCode, o.output, o.error ?? null, o.startedAt ?? null, o.finishedAt, id);
    return r.changes === 1;
  }

  close(): void {
    this.db.close();
  }
}
