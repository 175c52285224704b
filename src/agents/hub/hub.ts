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
import { FINISHED, type HubStore, type TaskRecord } from "./store.js";

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
  /** Output of running tasks so far, for stream subscribers who arrive late. */
  private readonly live = new Map<string, { stream: "stdout" | "stderr"; data: string }[]>();
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
  register(name: string, profile: string): string {
    const token = randomBytes(32).toString("base64url");
    if (!this.opts.store.addAgent({ name, profile, tokenHash: hashToken(token) }))
      throw new VmdError(
        "err_agent_exists",
        `agent ${name} exists`,
        "pick another name or destroy it",
      );
    this.emit({ type: "agent.created", agent: name });
    return token;
  }

  /** A new token for an existing agent (restore from a snapshot recreates its container). */
  rotateToken(name: string): string {
    this.requireAgent(name);
    const token = randomBytes(32).toString("base64url");
    this.opts.store.setToken(name, hashToken(token));
    this.sockets.get(name)?.close(CLOSE_UNAUTHORIZED, "token rotated");
    return token;
  }

  remove(name: string): void {
    this.requireAgent(name);
    this.opts.store.removeAgent(name);
    this.sockets.get(name)?.close(CLOSE_UNAUTHORIZED, "agent removed");
    this.emit({ type: "agent.removed", agent: name });
  }

  requireAgent(name: string) {
    const agent = this.opts.store.agent(name);
    if (!agent)
      throw new VmdError(
        "err_unknown_agent",
        `no agent ${name}`,
        "docker-agent list shows the agents",
      );
    return agent;
  }

  submit(agent: string, spec: Omit<TaskSpec, "id">): TaskRecord {
    this.requireAgent(agent);
    const id = randomUUID();
    const task = this.opts.store.addTask(id, agent, { ...spec, id } as TaskSpec);
    this.emit({ type: "task.queued", task });
    this.dispatch(task);
    return this.opts.store.task(id)!;
  }

  cancel(id: string): TaskRecord {
    const task = this.opts.store.task(id);
    if (!task) throw new VmdError("err_unknown_task", `no task ${id}`, "check the task id");
    if (FINISHED.has(task.status)) return task;
    const ws = this.sockets.get(task.agent);
    if (task.status === "queued" || !ws) {
      this.finished(id, {
        status: "cancelled",
        exitCode: null,
        output: "",
        error: "cancelled before it ran",
        finishedAt: Date.now(),
      });
    } else this.send(ws, { type: "cancel", taskId: id });
    return this.opts.store.task(id)!;
  }

  liveOutput(id: string) {
    return this.live.get(id) ?? [];
  }

  private send(ws: WebSocket, msg: HubToAgent): void {
    ws.send(JSON.stringify(msg));
  }

  private dispatch(task: TaskRecord): void {
    const ws = this.sockets.get(task.agent);
    if (!ws) return;
    this.opts.store.dispatched(task.id);
    this.send(ws, { type: "task", task: task.spec });
  }

  private finished(id: string, o: Parameters<HubStore["finish"]>[1]): void {
    if (!this.opts.store.finish(id, o)) return;
    // Kept a while, so a client that subscribes just after the end still gets stdout and stderr apart.
    setTimeout(() => this.live.delete(id), 300_000).unref();
    this.emit({ type: "task.finished", task: this.opts.store.task(id)! });
  }

  private refuse(ws: WebSocket, agent: string, why: string): void {
    this.opts.log(`refused agent ${agent || "(no id)"}: ${why}`);
    this.emit({ type: "agent.refused", agent, why });
    ws.close(CLOSE_UNAUTHORIZED, why);
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    let name: string | undefined;
    const helloTimer = setTimeout(
      () => this.refuse(ws, "", "no hello in time"),
      this.opts.helloTimeoutMs ?? 10_000,
    );
    ws.on("message", (raw) => {
      const parsed = AgentMessage.safeParse(
        (() => {
          try {
            return JSON.parse(String(raw));
          } catch {
            return undefined;
          }
        })(),
      );
      if (!parsed.success) {
        this.opts.log(`agent ${name ?? "(unauthenticated)"} sent a malformed message`);
        return;
      }
      const msg = parsed.data;
      if (!name) {
        if (msg.type !== "hello") return this.refuse(ws, "", "the first message must be hello");
        clearTimeout(helloTimer);
        const agent = this.opts.store.agent(msg.agentId);
        const given = Buffer.from(hashToken(msg.token), "hex");
        if (!agent || !timingSafeEqual(given, Buffer.from(agent.tokenHash, "hex"))) {
          return this.refuse(
            ws,
            msg.agentId,
            `${agent ? "wrong token" : "unknown agent"} from ${req.socket.remoteAddress}`,
          );
        }
        name = msg.agentId;
        const previous = this.sockets.get(name);
        this.sockets.set(name, ws);
        previous?.close(CLOSE_REPLACED, "replaced by a new connection");
        this.opts.store.seen(name);
        this.send(ws, { type: "welcome", healthIntervalMs: this.opts.healthIntervalMs ?? 5000 });
        this.opts.log(`agent ${name} connected from ${req.socket.remoteAddress}`);
        this.emit({ type: "agent.connected", agent: name });
        for (const task of this.opts.store.pending(name)) this.dispatch(task);
        return;
      }
      if ("taskId" in msg && this.opts.store.task(msg.taskId)?.agent !== name) {
        this.opts.log(`agent ${name} reported on a task that is not its own`);
        return;
      }
      switch (msg.type) {
        case "health":
          this.opts.store.seen(name, msg.report);
          this.emit({ type: "agent.health", agent: name, report: msg.report });
          break;
        case "task.started":
          this.opts.store.started(msg.taskId, msg.startedAt);
          this.live.set(msg.taskId, this.live.get(msg.taskId) ?? []);
          this.emit({ type: "task.running", task: this.opts.store.task(msg.taskId)! });
          break;
        case "task.output": {
          const chunks = this.live.get(msg.taskId) ?? [];
          chunks.push({ stream: msg.stream, data: msg.data });
          this.live.set(msg.taskId, chunks);
          this.emit({
            type: "task.output",
            taskId: msg.taskId,
            stream: msg.stream,
            data: msg.data,
          });
          break;
        }
        case "task.done":
          this.finished(msg.taskId, msg);
          break;
        default:
          break;
      }
    });
    ws.on("close", () => {
      clearTimeout(helloTimer);
      if (name && this.sockets.get(name) === ws) {
        this.sockets.delete(name);
        this.opts.store.seen(name);
        this.opts.log(`agent ${name} disconnected`);
        this.emit({ type: "agent.disconnected", agent: name });
      }
    });
    ws.on("error", () => {});
  }

  async close(): Promise<void> {
    for (const ws of this.sockets.values()) ws.terminate();
    this.sockets.clear();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}
