// The agent ↔ hub WebSocket protocol: one JSON object per text frame. Types only, so the
// in-container agent carries no dependencies; the hub validates what it receives.

/** A task as the hub sends it. `exec` runs a shell command; other types are handed over as JSON. */
export interface TaskSpec {
  id: string;
  type: string;
  command?: string;
  /** Milliseconds; the agent kills the task's process group when it expires. */
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  [key: string]: unknown;
}

export type TaskStatus = "succeeded" | "failed" | "timeout" | "cancelled" | "interrupted";

export interface TaskOutcome {
  taskId: string;
  status: TaskStatus;
  exitCode: number | null;
  output: string;
  error?: string;
  startedAt: number;
  finishedAt: number;
}

export interface HealthReport {
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  diskUsedBytes: number;
  diskTotalBytes: number;
  uptimeSeconds: number;
}

export type AgentToHub =
  | { type: "hello"; agentId: string; token: string; version: string }
  | { type: "health"; report: HealthReport }
  | { type: "task.started"; taskId: string; startedAt: number }
  | { type: "task.output"; taskId: string; stream: "stdout" | "stderr"; data: string }
  | ({ type: "task.done" } & TaskOutcome);

export type HubToAgent =
  | { type: "welcome"; healthIntervalMs: number }
  | { type: "task"; task: TaskSpec }
  | { type: "cancel"; taskId: string };

/** Close codes the hub uses, so the agent knows whether retrying can help. */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_REPLACED = 4409;
