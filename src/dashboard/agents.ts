import type { AgentView } from "../agents/hub-client.js";
import type { HealthReport } from "../runtimes/agent/wire.js";

export type AgentStatus = "connected" | "disconnected" | "stopped" | "starting";

/** An agent's container as the engine lists it (`State` is the engine's word: running, exited…). */
export interface AgentContainer {
  state: string;
  /** When the dashboard saw it start (ms), 0 when unknown. */
  startedAt: number;
}

/** One agent row of the dashboard. */
export interface AgentRow {
  name: string;
  profile: string;
  status: AgentStatus;
  /** The engine's word for the container, "missing" when there is none. */
  container: string;
  /** Seconds the agent's process has been up (from its last health report), null when unknown. */
  uptimeSeconds: number | null;
  lastSeen: number | null;
  createdAt: number | null;
  health: HealthReport | null;
}

/** How long a running container that has not connected yet counts as starting. */
export const STARTING_GRACE_MS = 60_000;

/**
 * An agent's status: connected (the hub has its WebSocket), stopped (its container is not
 * running), starting (running, not connected yet, started within the grace period or being
 * started from the dashboard), else disconnected (running or missing, and not connected).
 */
export function agentStatus(
  connected: boolean,
  container: AgentContainer | undefined,
  now: number,
  startingNow: boolean,
): AgentStatus {
  if (connected) return "connected";
  if (startingNow) return "starting";
  if (!container) return "disconnected";
  if (container.state === "running" || container.state === "restarting")
    return container.startedAt && now - container.startedAt < STARTING_GRACE_MS
      ? "starting"
      : "disconnected";
  return "stopped";
}

/** Joins the hub's agents with their containers into rows, sorted by name. */
export function agentRows(
  agents: AgentView[],
  containers: Map<string, AgentContainer & { profile: string }>,
  starting: ReadonlySet<string>,
  now: number,
): AgentRow[] {
  const byName = new Map(agents.map((a) => [a.name, a]));
  const names = [...new Set([...byName.keys(), ...containers.keys()])].sort();
  return names.map((name) => {
    const a = byName.get(name);
    const c = containers.get(name);
    const h = a?.health ?? null;
    return {
      name,
      profile: a?.profile ?? c?.profile ?? "?",
      status: agentStatus(a?.connected ?? false, c, now, starting.has(name)),
      container: c?.state ?? "missing",
      uptimeSeconds:
        h && a?.connected && a.lastSeen
          ? Math.round(h.uptimeSeconds + (now - a.lastSeen) / 1000)
          : null,
      lastSeen: a?.lastSeen ?? null,
      createdAt: a?.createdAt ?? null,
      health: h,
    };
  });
}
