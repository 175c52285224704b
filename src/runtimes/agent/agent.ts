// The agent runtime: runs inside each agent container (Node 24, no dependencies: the built-in
// WebSocket client). Connects to the hub, authenticates, runs tasks, streams their output, and
// reports health; reconnects with exponential backoff and jitter whenever the connection drops.
import { join } from "node:path";
import { startTask, type RunningTask } from "./executor.js";
import { HealthMonitor } from "./health.js";
import { TaskJournal } from "./journal.js";
import {
  CLOSE_REPLACED,
  CLOSE_UNAUTHORIZED,
  type AgentToHub,
  type HubToAgent,
  type TaskSpec,
} from "./wire.js";

const VERSION = "1";
const agentId = process.env.AGENT_ID ?? "";
const token = process.env.AGENT_TOKEN ?? "";
const hubURL = process.env.HUB_URL ?? "ws://host.docker.internal:9090";
const workdir = process.env.AGENT_WORKSPACE ?? "/workspace";
const BACKOFF_BASE_MS = Number(process.env.AGENT_BACKOFF_BASE_MS ?? 250);
const BACKOFF_MAX_MS = Number(process.env.AGENT_BACKOFF_MAX_MS ?? 10_000);

const log = (line: string) => console.log(`${new Date().toISOString()} agent ${agentId}: ${line}`);

if (!agentId || !token) {
  log("AGENT_ID and AGENT_TOKEN must be set (docker-agent create sets them)");
  process.exit(2);
}

const journal = new TaskJournal(join(workdir, ".agent", "tasks"));
const health = new HealthMonitor(workdir);
const running = new Map<string, RunningTask>();
let socket: WebSocket | undefined;
let attempt = 0;
let healthTimer: NodeJS.Timeout | undefined;

function send(msg: AgentToHub): void {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function onTask(task: TaskSpec): void {
  const seen = journal.get(task.id);
  if (seen?.state === "done") return send({ type: "task.done", ...seen.outcome });
  if (seen?.state === "started" && !running.has(task.id)) {
    // It was running when the agent stopped: running it again could repeat its side effects.
    const outcome = {
      taskId: task.id,
      status: "interrupted" as const,
      exitCode: null,
      output: "",
      error: "the agent restarted while the task ran; it was not run again",
      startedAt: seen.startedAt,
      finishedAt: Date.now(),
    };
    journal.put(task.id, { state: "done", outcome });
    return send({ type: "task.done", ...outcome });
  }
  if (running.has(task.id)) return;
  const startedAt = Date.now();
  journal.put(task.id, { state: "started", startedAt });
  send({ type: "task.started", taskId: task.id, startedAt });
  const run = startTask(task, workdir, (stream, data) =>
    send({ type: "task.output", taskId: task.id, stream, data }),
  );
  running.set(task.id, run);
  void run.done.then((outcome) => {
    running.delete(task.id);
    journal.put(task.id, { state: "done", outcome });
    send({ type: "task.done", ...outcome });
    log(
      `task ${task.id} ${outcome.status}${outcome.exitCode === null ? "" : ` (exit ${outcome.exitCode})`}`,
    );
  });
}

function connect(): void {
  const ws = new WebSocket(hubURL);
  socket = ws;
  ws.addEventListener("open", () => {
    send({ type: "hello", agentId, token, version: VERSION });
  });
  ws.addEventListener("message", (ev) => {
    let msg: HubToAgent;
    try {
      msg = JSON.parse(String(ev.data)) as HubToAgent;
    } catch {
      return;
    }
    if (msg.type === "welcome") {
      attempt = 0;
      log(`connected to ${hubURL}`);
      clearInterval(healthTimer);
      const beat = () => send({ type: "health", report: health.report() });
      beat();
      healthTimer = setInterval(beat, msg.healthIntervalMs);
    } else if (msg.type === "task") onTask(msg.task);
    else if (msg.type === "cancel") running.get(msg.taskId)?.cancel();
  });
  ws.addEventListener("close", (ev) => {
    clearInterval(healthTimer);
    if (socket !== ws) return;
    socket = undefined;
    if (ev.code === CLOSE_UNAUTHORIZED)
      log("the hub refused this agent's token; retrying in case it was re-registered");
    if (ev.code === CLOSE_REPLACED)
      log("another connection with this agent's id replaced this one");
    // Exponential backoff with full jitter: many agents reconnecting to a restarted hub spread out.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt++);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    setTimeout(connect, delay);
  });
  ws.addEventListener("error", () => {
    // close follows
  });
}

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    log(`${sig}: stopping`);
    for (const r of running.values()) r.cancel();
    socket?.close(1000);
    process.exit(0);
  });
}

log(`starting (hub ${hubURL})`);
connect();
