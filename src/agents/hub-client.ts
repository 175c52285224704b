import { createHash } from "node:crypto";
import { VmdError } from "../errors.js";
import type { HealthReport } from "../runtimes/agent/wire.js";
import { sseEvents } from "../sys/sse.js";
import type { TaskMetrics } from "./hub/metrics.js";
import type { TaskRecord, TaskSummary } from "./hub/store.js";

/** A query string from the defined values of `q`. */
export function searchParams(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") p.set(k, String(v));
  return p.toString();
}

export interface AgentView {
  name: string;
  profile: string;
  connected: boolean;
  createdAt: number;
  lastSeen: number | null;
  health: HealthReport | null;
}

/** The hub's HTTP API, as docker-agent uses it. */
export class HubClient {
  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  /**
   * Which hub an agent container belongs to (its `org.vmdocker.hub` label): a hash of the hub's
   * token, so agents of other hubs on the same engine are told apart without the token in a label.
   */
  get hubId(): string {
    return createHash("sha256").update(this.token).digest("hex").slice(0, 16);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch {
      throw new VmdError(
        "err_hub_down",
        `no hub answers at ${this.url}`,
        "start it with `vmdocker hub` (npm start starts one too), or set HUB_API",
      );
    }
    const json = (await res.json().catch(() => ({}))) as {
      error?: string;
      message?: string;
      hint?: string;
    };
    if (!res.ok) {
      if (res.status === 401)
        throw new VmdError(
          "err_unauthorized",
          `the hub at ${this.url} refused the token`,
          "use the token the hub wrote (~/.vmdocker/hub/token) or set HUB_TOKEN",
        );
      throw new VmdError(json.error ?? "err_hub", json.message ?? `HTTP ${res.status}`, json.hint);
    }
    return json as T;
  }

  health() {
    return this.call<{ status: string; agents: number; connected: number; wsPort: number }>(
      "GET",
      "/health",
    );
  }
  agents() {
    return this.call<AgentView[]>("GET", "/agents");
  }
  agent(name: string) {
    return this.call<AgentView>("GET", `/agents/${encodeURIComponent(name)}`);
  }
  register(name: string, profile: string) {
    return this.call<{ name: string; token: string }>("POST", "/agents", { name, profile });
  }
  rotateToken(name: string) {
    return this.call<{ token: string }>("POST", `/agents/${encodeURIComponent(name)}/token`);
  }
  remove(name: string) {
    return this.call<unknown>("DELETE", `/agents/${encodeURIComponent(name)}`);
  }
  submit(name: string, task: Record<string, unknown>) {
    return this.call<TaskRecord>("POST", `/agents/${encodeURIComponent(name)}/tasks`, task);
  }
  tasks(name: string, limit = 20) {
    return this.call<TaskRecord[]>(
      "GET",
      `/agents/${encodeURIComponent(name)}/tasks?limit=${limit}`,
    );
  }
  /** A page of every agent's tasks (GET /tasks); `query` holds agent, status, offset, limit. */
  listTasks(query: Record<string, string | number | undefined>) {
    return this.call<{ total: number; offset: number; limit: number; tasks: TaskSummary[] }>(
      "GET",
      `/tasks?${searchParams(query)}`,
    );
  }
  metrics(query: Record<string, string | number | undefined>) {
    return this.call<TaskMetrics>("GET", `/tasks/metrics?${searchParams(query)}`);
  }
  task(id: string) {
    return this.call<TaskRecord>("GET", `/tasks/${id}`);
  }
  wait(id: string, timeoutMs: number) {
    return this.call<TaskRecord>("GET", `/tasks/${id}/wait?timeout=${timeoutMs}`);
  }
  cancel(id: string) {
    return this.call<TaskRecord>("POST", `/tasks/${id}/cancel`);
  }

  /** Follows a task's output (server-sent events) until it finishes; returns the finished task. */
  async stream(
    id: string,
    onOutput: (stream: "stdout" | "stderr", data: string) => void,
  ): Promise<TaskRecord> {
    const res = await fetch(`${this.url}/tasks/${id}/stream`, {
      headers: { authorization: `Bearer ${this.token}` },
    }).catch(() => {
      throw new VmdError(
        "err_hub_down",
        `no hub answers at ${this.url}`,
        "start it with `vmdocker hub`",
      );
    });
    if (!res.ok || !res.body)
      throw new VmdError("err_hub", `stream of task ${id}: HTTP ${res.status}`);
    for await (const { event, data } of sseEvents(res.body)) {
      if (event === "output") {
        const o = data as { stream: "stdout" | "stderr"; data: string };
        onOutput(o.stream, o.data);
      } else if (event === "done") return data as TaskRecord;
    }
    // The hub went away mid-stream: the task is still queued there; report what it knows.
    return this.task(id);
  }
}

export { sseEvents } from "../sys/sse.js";
