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

/** A page of tasks, newest first: every task, or those of one agent and/or in some states. */
export interface TaskQuery {
  agent?: string;
  /** Empty or absent: every state. */
  statuses?: TaskState[];
  offset: number;
  limit: number;
}

/** A task without its output and spec (what a list shows); `command` is an exec task's command. */
export type TaskSummary = Omit<TaskRecord, "output" | "spec"> & {
  type: string;
  command: string | null;
};

export const summarize = (t: TaskRecord): TaskSummary => {
  const { output: _o, spec, ...rest } = t;
  return { ...rest, type: spec.type, command: spec.command ?? null };
};

/** A finished task as task metrics count it; `durationMs` from start (or creation) to finish. */
export interface FinishedTask {
  status: TaskState;
  finishedAt: number;
  durationMs: number;
}

export interface FinishFields {
  status: TaskState;
  exitCode: number | null;
  output: string;
  error?: string | undefined;
  startedAt?: number;
  finishedAt: number;
}

/** Where the hub keeps agents (token hashes, last health) and the task queue. */
export interface HubStore {
  readonly kind: "sqlite" | "redis";
  addAgent(a: Pick<AgentRecord, "name" | "profile" | "tokenHash">): Promise<boolean>;
  setToken(name: string, tokenHash: string): Promise<void>;
  agent(name: string): Promise<AgentRecord | undefined>;
  agents(): Promise<AgentRecord[]>;
  removeAgent(name: string): Promise<void>;
  seen(name: string, health?: HealthReport): Promise<void>;
  addTask(id: string, agent: string, spec: TaskSpec): Promise<TaskRecord>;
  task(id: string): Promise<TaskRecord | undefined>;
  /** The agent's latest tasks, newest first. */
  tasks(agent: string, limit: number): Promise<TaskRecord[]>;
  /** Tasks the agent has not finished, oldest first: what to (re)send when it connects. */
  pending(agent: string): Promise<TaskRecord[]>;
  dispatched(id: string): Promise<void>;
  started(id: string, at: number): Promise<void>;
  /** Records the outcome once; false when the task had already finished. */
  finish(id: string, o: FinishFields): Promise<boolean>;
  /** A page of tasks (newest first) and how many match in all. */
  listTasks(q: TaskQuery): Promise<{ total: number; tasks: TaskSummary[] }>;
  /** Tasks finished at or after `since` (ms since the epoch), oldest first. */
  finishedSince(since: number): Promise<FinishedTask[]>;
  /** How many tasks are in each state. */
  countByStatus(): Promise<Partial<Record<TaskState, number>>>;
  close(): Promise<void>;
}

/** The hub's agents and task queue in an embedded SQLite file (WAL, every commit synced). */
export class SqliteHubStore implements HubStore {
  readonly kind = "sqlite" as const;
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
      CREATE INDEX IF NOT EXISTS tasks_seq ON tasks (seq);
      CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, seq);
      CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_at);
    `);
  }

  async addAgent(a: Pick<AgentRecord, "name" | "profile" | "tokenHash">): Promise<boolean> {
    const r = this.db
      .prepare(
        "INSERT OR IGNORE INTO agents (name, profile, token_hash, created_at) VALUES (?, ?, ?, ?)",
      )
      .run(a.name, a.profile, a.tokenHash, Date.now());
    return r.changes === 1;
  }

  async setToken(name: string, tokenHash: string): Promise<void> {
    this.db.prepare("UPDATE agents SET token_hash = ? WHERE name = ?").run(tokenHash, name);
  }

  async agent(name: string): Promise<AgentRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM agents WHERE name = ?").get(name) as
      AgentRow | undefined;
    return r && toAgent(r);
  }

  async agents(): Promise<AgentRecord[]> {
    return (this.db.prepare("SELECT * FROM agents ORDER BY name").all() as AgentRow[]).map(toAgent);
  }

  async removeAgent(name: string): Promise<void> {
    this.db.prepare("DELETE FROM agents WHERE name = ?").run(name);
  }

  async seen(name: string, health?: HealthReport): Promise<void> {
    if (health)
      this.db
        .prepare("UPDATE agents SET last_seen = ?, health = ? WHERE name = ?")
        .run(Date.now(), JSON.stringify(health), name);
    else this.db.prepare("UPDATE agents SET last_seen = ? WHERE name = ?").run(Date.now(), name);
  }

  async addTask(id: string, agent: string, spec: TaskSpec): Promise<TaskRecord> {
    this.db
      .prepare(
        "INSERT INTO tasks (id, agent, spec, status, created_at, seq) VALUES (?, ?, ?, 'queued', ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM tasks))",
      )
      .run(id, agent, JSON.stringify(spec), Date.now());
    return (await this.task(id))!;
  }

  async task(id: string): Promise<TaskRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM tasks WHERE id = ?").get(id) as TaskRow | undefined;
    return r && toTask(r);
  }

  async tasks(agent: string, limit: number): Promise<TaskRecord[]> {
    return (
      this.db
        .prepare("SELECT * FROM tasks WHERE agent = ? ORDER BY seq DESC LIMIT ?")
        .all(agent, limit) as TaskRow[]
    ).map(toTask);
  }

  async pending(agent: string): Promise<TaskRecord[]> {
    return (
      this.db
        .prepare(
          "SELECT * FROM tasks WHERE agent = ? AND status IN ('queued', 'dispatched', 'running') ORDER BY seq",
        )
        .all(agent) as TaskRow[]
    ).map(toTask);
  }

  async dispatched(id: string): Promise<void> {
    this.db
      .prepare(
        "UPDATE tasks SET status = CASE status WHEN 'queued' THEN 'dispatched' ELSE status END, dispatched_at = ?, deliveries = deliveries + 1 WHERE id = ?",
      )
      .run(Date.now(), id);
  }

  async started(id: string, at: number): Promise<void> {
    this.db
      .prepare(
        "UPDATE tasks SET status = 'running', started_at = ? WHERE id = ? AND status IN ('queued', 'dispatched')",
      )
      .run(at, id);
  }

  async finish(id: string, o: FinishFields): Promise<boolean> {
    const r = this.db
      .prepare(
        `UPDATE tasks SET status = ?, exit_code = ?, output = ?, error = ?,
           started_at = COALESCE(started_at, ?), finished_at = ?
         WHERE id = ? AND status IN ('queued', 'dispatched', 'running')`,
      )
      .run(o.status, o.exitCode, o.output, o.error ?? null, o.startedAt ?? null, o.finishedAt, id);
    return r.changes === 1;
  }

  async listTasks(q: TaskQuery): Promise<{ total: number; tasks: TaskSummary[] }> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.agent !== undefined) {
      where.push("agent = ?");
      args.push(q.agent);
    }
    if (q.statuses?.length) {
      where.push(`status IN (${q.statuses.map(() => "?").join(", ")})`);
      args.push(...q.statuses);
    }
    const cond = where.length ? `WHERE ${where.join(" AND ")}` : "";
    const { n } = this.db.prepare(`SELECT COUNT(*) AS n FROM tasks ${cond}`).get(...args) as {
      n: number;
    };
    const rows = this.db
      .prepare(
        `SELECT id, agent, spec, status, created_at, dispatched_at, started_at, finished_at, exit_code, '' AS output, error, deliveries
         FROM tasks ${cond} ORDER BY seq DESC LIMIT ? OFFSET ?`,
      )
      .all(...args, q.limit, q.offset) as TaskRow[];
    return { total: n, tasks: rows.map((r) => summarize(toTask(r))) };
  }

  async finishedSince(since: number): Promise<FinishedTask[]> {
    const rows = this.db
      .prepare(
        "SELECT status, finished_at, finished_at - COALESCE(started_at, created_at) AS d FROM tasks WHERE finished_at >= ? ORDER BY finished_at",
      )
      .all(since) as { status: TaskState; finished_at: number; d: number }[];
    return rows.map((r) => ({ status: r.status, finishedAt: r.finished_at, durationMs: r.d }));
  }

  async countByStatus(): Promise<Partial<Record<TaskState, number>>> {
    const rows = this.db
      .prepare("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
      .all() as {
      status: TaskState;
      n: number;
    }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
