import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { VmdError } from "../errors.js";
import { searchParams, type HubClient } from "../agents/hub-client.js";
import { AGENT_NAME } from "../agents/hub/api.js";
import { isHubAgent, type AgentManager } from "../agents/manager.js";
import type { DockerClient } from "../runtime/docker/client.js";
import { agentRows, type AgentContainer, type AgentStatus } from "./agents.js";
import { botCounts } from "./bots.js";
import type { Live } from "./live.js";

export interface ApiDeps {
  hub: HubClient;
  /** Agent containers (start, stop, destroy, snapshot); absent without an engine. */
  manager?: AgentManager | undefined;
  docker?: DockerClient | undefined;
  live: Live;
  log: (line: string) => void;
}

const TASK_ID = /^[0-9a-f-]{36}$/;
const PID = /^[A-Za-z0-9_-]{43}$/;
const STATUSES = ["connected", "disconnected", "stopped", "starting"] as const;

const Page = (max: number, fallback: number) => ({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(max).default(fallback),
});
const AgentQuery = z.object({
  ...Page(200, 25),
  status: z.enum(STATUSES).optional(),
  q: z.string().max(64).optional(),
});
const Exec = z.object({
  command: z.string().min(1).max(16_384),
  timeoutMs: z.number().int().positive().max(3_600_000).optional(),
});

function param(value: string, re: RegExp, what: string): string {
  if (!re.test(value))
    throw new VmdError("err_invalid_params", `${what} ${value.slice(0, 80)} is malformed`, "");
  return value;
}

/**
 * A JSON call to the node or its admin API, within `timeoutMs`; errors become VmdErrors with a
 * fix.
 */
async function nodeCall<T>(url: string, init: RequestInit = {}, timeoutMs = 5000): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new VmdError(
      "err_node_down",
      `no node answers at ${new URL(url).origin}: ${(err as Error).message}`,
      "start the node (npm start or vmdocker node), or pass --node-url",
    );
  }
  const body = (await res.json().catch(() => null)) as T & { error?: string };
  if (!res.ok)
    throw new VmdError(body?.error ?? "err_node", `the node answered HTTP ${res.status}`, "");
  return body;
}

/**
 * The dashboard's JSON API under /api (behind the session guard). Reads come from the hub's, the
 * node's and the admin API (and the engine, for agent containers), so a script can read all of it
 * there too; actions go through the same calls `docker-agent` and the admin API make.
 */
export function registerApi(app: FastifyInstance, d: ApiDeps): void {
  const { hub, live } = d;

  /** This hub's agent containers by agent name: labelled by this hub, or named like an agent it knows. */
  async function containers(
    known: Set<string>,
  ): Promise<Map<string, AgentContainer & { profile: string }>> {
    const out = new Map<string, AgentContainer & { profile: string }>();
    if (!d.docker) return out;
    const list = await d.docker
      .listContainers({ label: ["org.vmdocker.role=agent"] })
      .catch(() => []);
    for (const c of list) {
      const name = c.Labels["org.vmdocker.agent"];
      if (name && isHubAgent(c.Labels, hub.hubId, known))
        out.set(name, {
          state: c.State,
          startedAt: live.startedAt.get(name) ?? 0,
          profile: c.Labels["org.vmdocker.profile"] ?? "?",
        });
    }
    return out;
  }

  app.get("/api/agents", async (req) => {
    const q = AgentQuery.parse(req.query);
    const agents = await hub.agents();
    const cs = await containers(new Set(agents.map((a) => a.name)));
    const rows = agentRows(agents, cs, live.starting, Date.now());
    const counts: Record<AgentStatus | "all", number> = {
      all: rows.length,
      connected: 0,
      disconnected: 0,
      stopped: 0,
      starting: 0,
    };
    for (const r of rows) counts[r.status]++;
    const match = rows.filter(
      (r) => (!q.status || r.status === q.status) && (!q.q || r.name.includes(q.q)),
    );
    return {
      total: match.length,
      offset: q.offset,
      limit: q.limit,
      counts,
      agents: match.slice(q.offset, q.offset + q.limit),
    };
  });

  app.get<{ Params: { name: string } }>("/api/agents/:name/health", async (req) => {
    const name = param(req.params.name, AGENT_NAME, "agent name");
    return { agent: name, points: live.agentHealth.get(name)?.all() ?? [] };
  });

  const manager = () => {
    if (!d.manager)
      throw new VmdError(
        "err_no_engine",
        "the dashboard has no Docker engine: agent containers cannot be changed",
        "run vmdocker host setup, then restart the hub",
      );
    return d.manager;
  };
  /** Runs an action on an agent, telling browsers when it begins and how it ends. */
  async function act<T>(agent: string, action: string, fn: () => Promise<T>): Promise<T> {
    live.events.push("agent.action", { agent, action, phase: "begun" });
    try {
      const out = await fn();
      live.events.push("agent.action", { agent, action, phase: "done" });
      d.log(`dashboard: ${action} ${agent}`);
      return out;
    } catch (err) {
      const message = (err as Error).message;
      live.events.push("agent.action", { agent, action, phase: "failed", error: message });
      throw err;
    }
  }
  app.post<{ Params: { name: string } }>("/api/agents/:name/start", async (req) => {
    const name = param(req.params.name, AGENT_NAME, "agent name");
    live.starting.add(name);
    try {
      await act(name, "start", () => manager().start(name));
    } finally {
      live.starting.delete(name);
    }
    return { agent: name, started: true };
  });
  app.post<{ Params: { name: string } }>("/api/agents/:name/stop", async (req) => {
    const name = param(req.params.name, AGENT_NAME, "agent name");
    await act(name, "stop", () => manager().stop(name));
    return { agent: name, stopped: true };
  });
  app.post<{ Params: { name: string } }>("/api/agents/:name/snapshot", async (req) => {
    const name = param(req.params.name, AGENT_NAME, "agent name");
    return act(name, "snapshot", () => manager().snapshot(name));
  });
  app.delete<{ Params: { name: string }; Querystring: { volume?: string } }>(
    "/api/agents/:name",
    async (req) => {
      const name = param(req.params.name, AGENT_NAME, "agent name");
      const volume = req.query.volume === "1";
      return act(name, "destroy", () => manager().destroy(name, { volume }));
    },
  );
  app.post<{ Params: { name: string } }>("/api/agents/:name/exec", async (req, reply) => {
    const name = param(req.params.name, AGENT_NAME, "agent name");
    const body = Exec.parse(req.body);
    if (!(await hub.agent(name)).connected)
      throw new VmdError(
        "err_agent_not_connected",
        `agent ${name} is not connected`,
        "start it first",
      );
    const task = await hub.submit(name, { type: "exec", ...body });
    d.log(`dashboard: exec on ${name}: task ${task.id}`);
    return reply.code(201).send(task);
  });

  app.get<{ Querystring: Record<string, string> }>("/api/tasks", async (req) =>
    hub.listTasks(req.query),
  );
  app.get<{ Querystring: Record<string, string> }>("/api/tasks/metrics", async (req) =>
    hub.metrics(req.query),
  );
  app.get<{ Params: { id: string } }>("/api/tasks/:id", async (req) =>
    hub.task(param(req.params.id, TASK_ID, "task id")),
  );
  app.post<{ Params: { id: string } }>("/api/tasks/:id/cancel", async (req) =>
    hub.cancel(param(req.params.id, TASK_ID, "task id")),
  );
  /** The hub's task output stream, passed through as it comes. */
  app.get<{ Params: { id: string } }>("/api/tasks/:id/stream", async (req, reply) => {
    const id = param(req.params.id, TASK_ID, "task id");
    const abort = new AbortController();
    const res = await fetch(`${hub.url}/tasks/${id}/stream`, {
      headers: { authorization: `Bearer ${hub.token}` },
      signal: abort.signal,
    });
    if (!res.ok || !res.body) {
      abort.abort();
      return reply.code(res.status).send(await res.json().catch(() => ({ error: "err_hub" })));
    }
    reply.hijack();
    reply.raw.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    req.raw.on("close", () => abort.abort());
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        reply.raw.write(chunk);
    } catch {
      // the browser left, or the hub went away
    }
    reply.raw.end();
  });

  const node = () => {
    if (!live.node)
      throw new VmdError("err_no_node", "the dashboard knows no node", "pass --node-url");
    return live.node;
  };
  app.get<{ Querystring: Record<string, string> }>("/api/processes", async (req) => {
    const n = node();
    const q = z.object(Page(200, 25)).parse(req.query);
    const page = await nodeCall<Record<string, unknown>>(
      `${n.url}/vmd/processes?${searchParams(q)}`,
    );
    return { ...page, admin: !!(n.adminUrl && n.adminToken) };
  });
  app.get<{ Params: { pid: string }; Querystring: { limit?: string } }>(
    "/api/processes/:pid/results",
    async (req) => {
      const pid = param(req.params.pid, PID, "process id");
      const limit = z.coerce.number().int().min(1).max(100).default(10).parse(req.query.limit);
      const page = await nodeCall<{ edges: { node: Record<string, unknown> }[] }>(
        `${node().url}/results/${pid}?limit=${limit}`,
      );
      return {
        pid,
        results: page.edges
          .map((e) => e.node)
          .reverse()
          .map((r) => ({
            nonce: Number(r.Nonce),
            itemId: String(r["Item-Id"] ?? ""),
            timestamp: Number(r.Timestamp ?? 0),
            data: String(r.Data ?? "").slice(0, 2048),
            error: String(r.Error ?? "").slice(0, 2048),
            messages: Array.isArray(r.Messages) ? r.Messages.length : 0,
          })),
      };
    },
  );
  for (const action of ["stop", "resume"] as const)
    app.post<{ Params: { pid: string } }>(`/api/processes/:pid/${action}`, async (req) => {
      const pid = param(req.params.pid, PID, "process id");
      const n = node();
      if (!n.adminUrl || !n.adminToken)
        throw new VmdError(
          "err_no_admin",
          "the node's admin API is off",
          "set adminPort in the node's config (npm start turns it on)",
        );
      // A stop checkpoints and a resume restores: minutes for a big process, so no short timeout.
      const out = await nodeCall<unknown>(
        `${n.adminUrl}/admin/vms/${action}`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${n.adminToken}` },
          body: JSON.stringify({ pid }),
        },
        600_000,
      );
      d.log(`dashboard: ${action} process ${pid}`);
      live.events.push(action === "stop" ? "process.stopped" : "process.resumed", {
        pid,
        at: Date.now(),
      });
      return out;
    });

  app.get("/api/bots", async () => live.bots);

  app.get("/api/overview", async () => {
    const [health, metrics, processes] = await Promise.all([
      hub.health().catch(() => null),
      hub.metrics({ windowMs: 3_600_000, bucketMs: 300_000 }).catch(() => null),
      live.node
        ? nodeCall<{ total: number; running: number }>(
            `${live.node.url}/vmd/processes?limit=1`,
          ).catch(() => null)
        : null,
    ]);
    return {
      checks: live.checks,
      counts: {
        agents: health?.agents ?? null,
        connected: health?.connected ?? null,
        processes: processes?.total ?? null,
        running: processes?.running ?? null,
        bots: live.bots.available ? botCounts(live.bots.bots) : null,
        tasks: metrics?.states ?? null,
      },
      tasks: metrics,
      host: live.host.all(),
    };
  });
}
