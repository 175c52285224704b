import { createHash, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import type { IncomingMessage } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";
import { z } from "zod";
import { VmdError } from "../../errors.js";
import {
  CLOSE_REPLACED,
  CLOSE_UNAUTHORIZED,
  type HubToAgent,
  type TaskSpec,
} from "../../runtimes/agent/wire.js";
import { OutputTail } from "./output-tail.js";
import { FINISHED, type FinishFields, type HubStore, type TaskRecord } from "./store.js";

/** How much of a running task's output the hub keeps for late subscribers (characters, the latest). */
export const LIVE_OUTPUT_CHARS = 1024 * 1024;

const HealthSchema = z.object({
  cpuPercent: z.number(),
  memoryBytes: z.number(),
  memoryLimitBytes: z.number().nullable(),
  diskUsedBytes: z.number(),
  diskTotalBytes: z.number(),
  uptimeSeconds: z.number(),
});

const AgentMessage = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    agentId: z.string(),
    token: z.string(),
    version: z.string(),
  }),
  z.object({ type: z.literal("health"), report: HealthSchema }),
  z.object({ type: z.literal("task.started"), taskId: z.string(), startedAt: z.number() }),
  z.object({
    type: z.literal("task.output"),
    taskId: z.string(),
    stream: z.enum(["stdout", "stderr"]),
    data: z.string(),
  }),
  z.object({
    type: z.literal("task.done"),
    taskId: z.string(),
    status: z.enum(["succeeded", "failed", "timeout", "cancelled", "interrupted"]),
    exitCode: z.number().int().nullable(),
    output: z.string(),
    error: z.string().optional(),
    startedAt: z.number(),
    finishedAt: z.number(),
  }),
]);

export const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

export type HubEvent =
  | {
      type: "agent.connected" | "agent.disconnected" | "agent.created" | "agent.removed";
      agent: string;
    }
  | { type: "agent.refused"; agent: string; why: string }
  | { type: "agent.health"; agent: string; report: z.infer<typeof HealthSchema> }
  | { type: "task.queued" | "task.running" | "task.finished"; task: TaskRecord }
  | { type: "task.output"; taskId: string; stream: "stdout" | "stderr"; data: string };

export interface HubOptions {
  store: HubStore;
  log: (line: string) => void;
  healthIntervalMs?: number;
  helloTimeoutMs?: number;
}

/**
 * The hub: agents connect over WebSocket and authenticate with their id and token (stored
 * hashed); tasks are queued durably and sent when their agent is connected, again after every
 * reconnect until it reports them finished (the agent's journal makes a resend run nothing twice).
 */
export class Hub {
  readonly events = new EventEmitter();
  private readonly sockets = new Map<string, WebSocket>();
  /** The latest output of running tasks (1 Mi characters each), for stream subscribers who arrive late. */
  private readonly live = new Map<string, OutputTail>();
  /** Which agent each task sent by this hub belongs to: checked on every report without a store read. */
  private readonly owners = new Map<string, string>();
  readonly wss: WebSocketServer;

  constructor(private readonly opts: HubOptions) {
    this.events.setMaxListeners(0);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 8 * 2 ** 20 });
    this.wss.on("connection", (ws: WebSocket, req: IncomingMessage) => this.accept(ws, req));
  }

  private emit(e: HubEvent): void {
    this.events.emit("event", e);
  }

  connected(name: string): boolean {
    return this.sockets.has(name);
  }

  connectedCount(): number {
    return this.sockets.size;
  }

  /** Registers an agent; its token is returned once and stored only as a hash. */
  async register(name: string, profile: string): Promise<string> {
    const token = randomBytes(32).toString("base64url");
    if (!(await this.opts.store.addAgent({ name, profile, tokenHash: hashToken(token) })))
      throw new VmdError(
        "err_agent_exists",
        `agent ${name} exists`,
        "pick another name or destroy it",
      );
    this.emit({ type: "agent.created", agent: name });
    return token;
  }

  /** A new token for an existing agent (restore from a snapshot recreates its container). */
  async rotateToken(name: string): Promise<string> {
    await this.requireAgent(name);
    const token = randomBytes(32).toString("base64url");
    await this.opts.store.setToken(name, hashToken(token));
    this.sockets.get(name)?.close(CLOSE_UNAUTHORIZED, "token rotated");
    return token;
  }

  async remove(name: string): Promise<void> {
    await this.requireAgent(name);
    await this.opts.store.removeAgent(name);
    this.sockets.get(name)?.close(CLOSE_UNAUTHORIZED, "agent removed");
    this.emit({ type: "agent.removed", agent: name });
  }

  async requireAgent(name: string) {
    const agent = await this.opts.store.agent(name);
    if (!agent)
      throw new VmdError(
        "err_unknown_agent",
        `no agent ${name}`,
        "docker-agent list shows the agents",
      );
    return agent;
  }

  async submit(agent: string, spec: Omit<TaskSpec, "id">): Promise<TaskRecord> {
    await this.requireAgent(agent);
    const id = randomUUID();
    const task = await this.opts.store.addTask(id, agent, { ...spec, id } as TaskSpec);
    this.emit({ type: "task.queued", task });
    await this.dispatch(task);
    return (await this.opts.store.task(id))!;
  }

  async cancel(id: string): Promise<TaskRecord> {
    const task = await this.opts.store.task(id);
    if (!task) throw new VmdError("err_unknown_task", `no task ${id}`, "check the task id");
    if (FINISHED.has(task.status)) return task;
    const ws = this.sockets.get(task.agent);
    if (task.status === "queued" || !ws) {
      await this.finished(id, {
        status: "cancelled",
        exitCode: null,
        output: "",
        error: "cancelled before it ran",
        finishedAt: Date.now(),
      });
    } else this.send(ws, { type: "cancel", taskId: id });
    return (await this.opts.store.task(id))!;
  }

  /** The latest output of a running (or just finished) task, at most {@link LIVE_OUTPUT_CHARS}. */
  liveOutput(id: string) {
    return this.live.get(id)?.all() ?? [];
  }

  private liveTail(id: string): OutputTail {
    let tail = this.live.get(id);
    if (!tail) {
      tail = new OutputTail(LIVE_OUTPUT_CHARS);
      this.live.set(id, tail);
    }
    return tail;
  }

  private send(ws: WebSocket, msg: HubToAgent): void {
    ws.send(JSON.stringify(msg));
  }

  private async dispatch(task: TaskRecord): Promise<void> {
    const ws = this.sockets.get(task.agent);
    if (!ws) return;
    await this.opts.store.dispatched(task.id);
    this.owners.set(task.id, task.agent);
    this.send(ws, { type: "task", task: task.spec });
  }

  private async finished(id: string, o: FinishFields): Promise<void> {
    if (!(await this.opts.store.finish(id, o))) return;
    // Kept a while, so a client that subscribes just after the end still gets stdout and stderr apart.
    setTimeout(() => {
      this.live.delete(id);
      this.owners.delete(id);
    }, 300_000).unref();
    this.emit({ type: "task.finished", task: (await this.opts.store.task(id))! });
  }

  private refuse(ws: WebSocket, agent: string, why: string): void {
    this.opts.log(`refused agent ${agent || "(no id)"}: ${why}`);
    this.emit({ type: "agent.refused", agent, why });
    ws.close(CLOSE_UNAUTHORIZED, why);
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const conn: { name?: string } = {};
    const helloTimer = setTimeout(
      () => this.refuse(ws, "", "no hello in time"),
      this.opts.helloTimeoutMs ?? 10_000,
    );
    // One message at a time per agent, in the order sent (the store is asynchronous).
    let chain = Promise.resolve();
    ws.on("message", (raw) => {
      chain = chain
        .then(() => this.handle(ws, req, String(raw), conn, helloTimer))
        .catch((err: unknown) => this.opts.log(`agent ${conn.name ?? "?"}: ${String(err)}`));
    });
    ws.on("close", () => {
      clearTimeout(helloTimer);
      chain = chain.then(async () => {
        const name = conn.name;
        if (name && this.sockets.get(name) === ws) {
          this.sockets.delete(name);
          await this.opts.store.seen(name).catch(() => {});
          this.opts.log(`agent ${name} disconnected`);
          this.emit({ type: "agent.disconnected", agent: name });
        }
      });
    });
    ws.on("error", () => {});
  }

  private async handle(
    ws: WebSocket,
    req: IncomingMessage,
    raw: string,
    conn: { name?: string },
    helloTimer: NodeJS.Timeout,
  ): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      json = undefined;
    }
    const parsed = AgentMessage.safeParse(json);
    if (!parsed.success) {
      this.opts.log(`agent ${conn.name ?? "(unauthenticated)"} sent a malformed message`);
      return;
    }
    const msg = parsed.data;
    const store = this.opts.store;
    const name = conn.name;
    if (!name) {
      if (msg.type !== "hello") return this.refuse(ws, "", "the first message must be hello");
      clearTimeout(helloTimer);
      const agent = await store.agent(msg.agentId);
      const given = Buffer.from(hashToken(msg.token), "hex");
      if (!agent || !timingSafeEqual(given, Buffer.from(agent.tokenHash, "hex"))) {
        return this.refuse(
          ws,
          msg.agentId,
          `${agent ? "wrong token" : "unknown agent"} from ${req.socket.remoteAddress}`,
        );
      }
      conn.name = msg.agentId;
      const previous = this.sockets.get(msg.agentId);
      this.sockets.set(msg.agentId, ws);
      previous?.close(CLOSE_REPLACED, "replaced by a new connection");
      await store.seen(msg.agentId);
      this.send(ws, { type: "welcome", healthIntervalMs: this.opts.healthIntervalMs ?? 5000 });
      this.opts.log(`agent ${msg.agentId} connected from ${req.socket.remoteAddress}`);
      this.emit({ type: "agent.connected", agent: msg.agentId });
      for (const task of await store.pending(msg.agentId)) await this.dispatch(task);
      return;
    }
    const owner = (id: string) => this.owners.get(id) ?? store.task(id).then((t) => t?.agent);
    if ("taskId" in msg && (await owner(msg.taskId)) !== name) {
      this.opts.log(`agent ${name} reported on a task that is not its own`);
      return;
    }
    switch (msg.type) {
      case "health":
        await store.seen(name, msg.report);
        this.emit({ type: "agent.health", agent: name, report: msg.report });
        break;
      case "task.started":
        await store.started(msg.taskId, msg.startedAt);
        this.liveTail(msg.taskId);
        this.emit({ type: "task.running", task: (await store.task(msg.taskId))! });
        break;
      case "task.output": {
        this.liveTail(msg.taskId).push({ stream: msg.stream, data: msg.data });
        this.emit({ type: "task.output", taskId: msg.taskId, stream: msg.stream, data: msg.data });
        break;
      }
      case "task.done":
        await this.finished(msg.taskId, msg);
        break;
      default:
        break;
    }
  }

  async close(): Promise<void> {
    for (const ws of this.sockets.values()) ws.terminate();
    this.sockets.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}
