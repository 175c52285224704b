import { timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { z } from "zod";
import { VmdError } from "../../errors.js";
import { EventLog, openSse, streamLog } from "../../sys/sse.js";
import type { Hub, HubEvent } from "./hub.js";
import { statusOf } from "../../error-codes.js";
import { errorBody, jsonNotFound } from "../../errors.js";
import type { ProfileCatalog } from "../profiles.js";
import { jsonErrorHandler } from "./http-errors.js";
import { taskMetrics } from "./metrics.js";
import { parseTaskSpec } from "./task-spec.js";
import { TASK_STATES } from "./states.js";
import {
  FINISHED,
  type AgentRecord,
  type HubStore,
  type TaskRecord,
  type TaskState,
} from "./store.js";

export const AGENT_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

const CreateAgent = z.object({
  name: z.string().regex(AGENT_NAME, "lowercase letters, digits, _ . - (at most 63)"),
  profile: z.string().min(1),
});

/** `status=` takes states and two groups, comma-separated. */
const STATE_GROUPS: Record<string, TaskState[]> = {
  active: ["queued", "dispatched", "running"],
  finished: [...FINISHED],
};

const int = (min: number, max: number, fallback: number) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

const TaskListQuery = z.object({
  agent: z.string().regex(AGENT_NAME, "an agent name").optional(),
  status: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const out = new Set<TaskState>();
      for (const part of (v ?? "").split(",").filter(Boolean)) {
        const group = STATE_GROUPS[part];
        if (group) group.forEach((g) => out.add(g));
        else if ((TASK_STATES as readonly string[]).includes(part)) out.add(part as TaskState);
        else {
          ctx.addIssue({
            code: "custom",
            message: `${part} is not a state (${[...TASK_STATES, ...Object.keys(STATE_GROUPS)].join(", ")})`,
          });
          return z.NEVER;
        }
      }
      return [...out];
    }),
  offset: int(0, 1e9, 0),
  limit: int(1, 500, 50),
});

/** Most buckets one metrics answer has: a week by the minute (finer held the hub for seconds). */
const MAX_BUCKETS = 10_080;

const MetricsQuery = z
  .object({
    windowMs: int(60_000, 7 * 86_400_000, 3_600_000),
    bucketMs: int(1000, 86_400_000, 60_000),
  })
  .refine((q) => Math.ceil(q.windowMs / q.bucketMs) <= MAX_BUCKETS, {
    path: ["bucketMs"],
    message: `too small for windowMs: at most ${MAX_BUCKETS.toLocaleString("en")} buckets (a week by the minute)`,
  });

/**
 * The hub's HTTP API (bearer token on everything but /health): agents, tasks, a task's output as
 * server-sent events, and the hub's event stream for dashboards. With `profiles`, an agent is
 * registered only under a profile it knows (`get` throws err_unknown_profile otherwise).
 */
export function buildHubApi(
  hub: Hub,
  store: HubStore,
  token: string,
  wsPort: () => number,
  profiles?: Pick<ProfileCatalog, "get">,
): FastifyInstance {
  const bodyLimit = 8 * 2 ** 20;
  const app = Fastify({ logger: false, bodyLimit });
  // Numbered, so a dashboard that reconnects with Last-Event-ID catches up; output chunks are
  // passed on but not kept (a task's output has its own stream).
  const events = new EventLog(2000);
  const onEvent = (e: HubEvent) =>
    e.type === "task.output" ? events.broadcast(e.type, e) : events.push(e.type, e);
  hub.events.on("event", onEvent);
  app.addHook("preClose", async () => events.end());
  app.addHook("onClose", async () => {
    hub.events.off("event", onEvent);
  });
  const expected = Buffer.from(`Bearer ${token}`);
  app.addHook("onRequest", async (req, reply) => {
    if (req.url === "/health") return;
    const got = Buffer.from(req.headers.authorization ?? "");
    if (got.length !== expected.length || !timingSafeEqual(got, expected))
      return reply.code(401).send(errorBody("err_unauthorized", "bearer token required"));
  });
  app.setErrorHandler(
    jsonErrorHandler(
      statusOf,
      bodyLimit,
      "send a smaller body: the hub takes at most 8 MiB (copy large files with docker cp)",
    ),
  );
  app.setNotFoundHandler(jsonNotFound);

  const agentView = (a: AgentRecord) => ({
    name: a.name,
    profile: a.profile,
    connected: hub.connected(a.name),
    createdAt: a.createdAt,
    lastSeen: a.lastSeen,
    health: a.health,
  });

  app.get("/health", async () => ({
    status: "ok",
    store: store.kind,
    agents: (await store.agents()).length,
    connected: hub.connectedCount(),
    wsPort: wsPort(),
  }));
  app.get("/agents", async () => (await store.agents()).map(agentView));
  /** Every agent's tasks, newest first, a page at a time; `status` filters (e.g. `active`, `failed`). */
  app.get("/tasks", async (req) => {
    const q = TaskListQuery.parse(req.query);
    const page = await store.listTasks({
      ...(q.agent ? { agent: q.agent } : {}),
      statuses: q.status,
      offset: q.offset,
      limit: q.limit,
    });
    return { ...page, offset: q.offset, limit: q.limit };
  });
  /** Finished tasks over a window: rate, success ratio, p50/p95 duration, per bucket too. */
  app.get("/tasks/metrics", async (req) => {
    const q = MetricsQuery.parse(req.query);
    const now = Date.now();
    const [rows, states] = await Promise.all([
      store.finishedSince(now - q.windowMs),
      store.countByStatus(),
    ]);
    return taskMetrics(rows, states, now, q.windowMs, q.bucketMs);
  });
  app.post("/agents", async (req, reply) => {
    const body = CreateAgent.parse(req.body);
    profiles?.get(body.profile);
    const token = await hub.register(body.name, body.profile);
    return reply.code(201).send({ name: body.name, token });
  });
  app.get<{ Params: { name: string } }>("/agents/:name", async (req) =>
    agentView(await hub.requireAgent(req.params.name)),
  );
  app.delete<{ Params: { name: string } }>("/agents/:name", async (req) => {
    await hub.remove(req.params.name);
    return { name: req.params.name, removed: true };
  });
  app.post<{ Params: { name: string } }>("/agents/:name/token", async (req) => ({
    name: req.params.name,
    token: await hub.rotateToken(req.params.name),
  }));
  app.post<{ Params: { name: string } }>("/agents/:name/tasks", async (req, reply) => {
    const spec = parseTaskSpec(req.body);
    return reply.code(201).send(await hub.submit(req.params.name, spec));
  });
  app.get<{ Params: { name: string }; Querystring: { limit?: string } }>(
    "/agents/:name/tasks",
    async (req) => {
      await hub.requireAgent(req.params.name);
      return store.tasks(req.params.name, Math.min(1000, Number(req.query.limit ?? 20) || 20));
    },
  );
  const task = async (id: string): Promise<TaskRecord> => {
    const t = await store.task(id);
    if (!t) throw new VmdError("err_unknown_task", `no task ${id}`, "check the task id");
    return t;
  };
  app.get<{ Params: { id: string } }>("/tasks/:id", async (req) => task(req.params.id));
  app.post<{ Params: { id: string } }>("/tasks/:id/cancel", async (req) =>
    hub.cancel(req.params.id),
  );
  /** Waits (at most `timeout` ms) for the task to finish, then answers it. */
  app.get<{ Params: { id: string }; Querystring: { timeout?: string } }>(
    "/tasks/:id/wait",
    async (req) => {
      const id = req.params.id;
      const ms = Math.min(600_000, Number(req.query.timeout ?? 60_000) || 60_000);
      let done = () => {};
      const finished = new Promise<void>((resolve) => (done = resolve));
      // Listen before reading, so a finish in between is not missed.
      const on = (e: HubEvent) => {
        if (e.type === "task.finished" && e.task.id === id) done();
      };
      hub.events.on("event", on);
      const timer = setTimeout(done, ms);
      req.raw.on("close", done);
      try {
        if (!FINISHED.has((await task(id)).status)) await finished;
      } finally {
        clearTimeout(timer);
        hub.events.off("event", on);
      }
      return task(id);
    },
  );
  /** Output as it is produced (what was produced before comes first), then `done` with the task. */
  app.get<{ Params: { id: string } }>("/tasks/:id/stream", async (req, reply) => {
    const id = req.params.id;
    // Subscribe first and note how much output there already is: what follows arrives as events.
    const early: HubEvent[] = [];
    const out: { write?: (event: string, data: unknown) => void } = {};
    const stop = () => hub.events.off("event", on);
    const deliver = (e: HubEvent) => {
      if (e.type === "task.output" && e.taskId === id)
        out.write!("output", { stream: e.stream, data: e.data });
      if (e.type === "task.finished" && e.task.id === id) {
        out.write!("done", e.task);
        stop();
        reply.raw.end();
      }
    };
    function on(e: HubEvent) {
      if (out.write) deliver(e);
      else if (
        (e.type === "task.output" && e.taskId === id) ||
        (e.type === "task.finished" && e.task.id === id)
      )
        early.push(e);
    }
    hub.events.on("event", on);
    const before = hub.liveOutput(id).slice();
    let first: TaskRecord;
    try {
      first = await task(id);
    } catch (err) {
      stop();
      throw err;
    }
    reply.hijack();
    const write = openSse(reply.raw);
    out.write = write;
    req.raw.on("close", stop);
    if (FINISHED.has(first.status) && !early.length) {
      stop();
      if (before.length) for (const c of before) write("output", c);
      else if (first.output) write("output", { stream: "stdout", data: first.output });
      write("done", first);
      reply.raw.end();
      return;
    }
    for (const c of before) write("output", c);
    for (const e of early.splice(0)) deliver(e);
  });
  /** Every hub event (agents connecting, health, tasks), for dashboards. */
  app.get("/events", (req, reply) => {
    reply.hijack();
    streamLog(req.raw, reply.raw, events);
  });
  return app;
}
