import type { Readable } from "node:stream";
import type { HealthReport } from "../runtimes/agent/wire.js";
import type { TaskRecord } from "../agents/hub/store.js";
import { summarize } from "../agents/hub/store.js";
import type { DockerClient } from "../runtime/docker/client.js";
import { EventLog } from "../sys/sse.js";
import { listBots, type BotsView } from "./bots.js";
import { follow, type Follower } from "./follow.js";
import { HealthChecks, HostSampler, Ring, type HealthCheck, type HostSample } from "./host.js";

/** Where the node's public API and (optionally) its admin API are. */
export interface NodeEndpoints {
  url: string;
  adminUrl?: string | undefined;
  adminToken?: string | undefined;
}

/** One point of an agent's resource charts (from its health reports). */
export interface HealthPoint {
  t: number;
  cpuPercent: number;
  memoryBytes: number;
  memoryLimitBytes: number | null;
  diskUsedBytes: number;
  diskTotalBytes: number;
}

export interface LiveOptions {
  hubURL: string;
  token: string;
  docker?: DockerClient | undefined;
  redisPort: number;
  /** How to run vm-ctl (argv before `list --json`); empty: no bots. */
  vmCtl: string[];
  hostEveryMs?: number;
  checksEveryMs?: number;
  botsEveryMs?: number;
  log: (line: string) => void;
}

const HEALTH_POINTS = 360;

/**
 * What the dashboard knows between requests and pushes to browsers: one numbered event log fed
 * by the hub's and the node's event streams (followed with reconnect and catch-up), the engine's
 * container events for agents, host samples, health checks and the bot list; plus the recent
 * history of every agent's health and of the host, for charts.
 */
export class Live {
  readonly events = new EventLog(5000);
  readonly host = new Ring<HostSample>(300);
  readonly agentHealth = new Map<string, Ring<HealthPoint>>();
  /** Agents being started from the dashboard (they show as starting until connected). */
  readonly starting = new Set<string>();
  /** When the engine last reported each agent's container starting (ms). */
  readonly startedAt = new Map<string, number>();
  checks: HealthCheck[] = [];
  bots: BotsView = { available: false, bots: [], error: "", at: 0 };
  node: NodeEndpoints | undefined;
  private readonly followers: Follower[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private dockerEvents: Readable | undefined;
  private closed = false;
  private readonly healthChecks: HealthChecks;

  constructor(private readonly o: LiveOptions) {
    this.healthChecks = new HealthChecks({
      docker: o.docker,
      redisPort: o.redisPort,
      hubURL: o.hubURL,
      nodeURL: () => this.node?.url,
    });
  }

  private reset(source: string): void {
    this.events.push("reset", { source });
  }

  /** Starts following and sampling; `seed` is the agents' last stored health. */
  start(seed: { name: string; health: HealthReport | null; lastSeen: number | null }[]): void {
    for (const a of seed) if (a.health) this.addHealth(a.name, a.health, a.lastSeen ?? Date.now());
    this.followers.push(
      follow({
        url: () => `${this.o.hubURL}/events`,
        headers: { authorization: `Bearer ${this.o.token}` },
        onEvent: (event, data) => this.fromHub(event, data),
        onReset: () => this.reset("hub"),
      }),
      follow({
        url: () => (this.node ? `${this.node.url}/vmd/events` : undefined),
        onEvent: (event, data) => this.events.push(event, data),
        onReset: () => this.reset("node"),
      }),
    );
    const sampler = new HostSampler();
    const every = (ms: number, fn: () => void | Promise<void>) => {
      const t = setInterval(() => void fn(), ms);
      t.unref();
      this.timers.push(t);
      void fn();
    };
    every(this.o.hostEveryMs ?? 2000, () => {
      const s = sampler.sample();
      this.host.push(s);
      this.events.broadcast("host", s);
    });
    every(this.o.checksEveryMs ?? 5000, async () => {
      const checks = await this.healthChecks.run();
      if (JSON.stringify(checks) !== JSON.stringify(this.checks)) {
        this.checks = checks;
        this.events.push("health", checks);
      }
    });
    // One listing at a time: with an emulated guest's gateway busy, one can take 20 s.
    let listing = false;
    if (this.o.vmCtl.length)
      every(this.o.botsEveryMs ?? 5000, async () => {
        if (listing) return;
        listing = true;
        const view = await listBots(this.o.vmCtl).finally(() => (listing = false));
        const changed =
          JSON.stringify({ ...view, at: 0 }) !== JSON.stringify({ ...this.bots, at: 0 });
        this.bots = view;
        if (changed) this.events.push("bots", view);
      });
    void this.followDocker();
  }

  private addHealth(name: string, r: HealthReport, t: number): HealthPoint {
    let ring = this.agentHealth.get(name);
    if (!ring) {
      ring = new Ring<HealthPoint>(HEALTH_POINTS);
      this.agentHealth.set(name, ring);
    }
    const p: HealthPoint = {
      t,
      cpuPercent: r.cpuPercent,
      memoryBytes: r.memoryBytes,
      memoryLimitBytes: r.memoryLimitBytes,
      diskUsedBytes: r.diskUsedBytes,
      diskTotalBytes: r.diskTotalBytes,
    };
    ring.push(p);
    return p;
  }

  /** Hub events go to browsers without task output (a task's output has its own stream). */
  private fromHub(event: string, data: unknown): void {
    const e = data as { agent?: string; report?: HealthReport; task?: TaskRecord };
    if (event === "agent.health" && e.agent && e.report) {
      const point = this.addHealth(e.agent, e.report, Date.now());
      this.events.push(event, { agent: e.agent, report: e.report, point });
      return;
    }
    if (event === "agent.connected" && e.agent) this.starting.delete(e.agent);
    if (event === "agent.removed" && e.agent) this.agentHealth.delete(e.agent);
    if (e.task) this.events.push(event, { ...e, task: summarize(e.task) });
    else if (event !== "task.output") this.events.push(event, data);
  }

  /** The engine's container events for agents (start, die, stop, destroy…), reconnecting. */
  private async followDocker(): Promise<void> {
    const docker = this.o.docker;
    while (docker && !this.closed) {
      try {
        const stream = (await docker.docker.getEvents({
          filters: { type: ["container"], label: ["org.vmdocker.role=agent"] },
        })) as unknown as Readable;
        this.dockerEvents = stream;
        this.reset("engine");
        let buf = "";
        for await (const chunk of stream) {
          buf += String(chunk);
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line.trim()) this.fromDocker(line);
          }
        }
      } catch {
        // the engine went away: retry below
      }
      if (!this.closed) await new Promise((r) => setTimeout(r, 1000).unref());
    }
  }

  private fromDocker(line: string): void {
    let e: { Action?: string; Actor?: { Attributes?: Record<string, string> }; time?: number };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return;
    }
    const agent = e.Actor?.Attributes?.["org.vmdocker.agent"];
    const action = e.Action ?? "";
    if (!agent || !/^(create|start|restart|die|stop|kill|pause|unpause|destroy)$/.test(action))
      return;
    if (action === "start" || action === "restart") this.startedAt.set(agent, Date.now());
    if (action === "destroy") this.startedAt.delete(agent);
    this.events.push("agent.container", { agent, action });
  }

  close(): void {
    this.closed = true;
    for (const f of this.followers) f.close();
    for (const t of this.timers) clearInterval(t);
    this.dockerEvents?.destroy();
  }
}
