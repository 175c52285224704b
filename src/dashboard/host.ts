import { readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { criuStatus } from "../host/criu.js";
import { redisAnswers } from "../host/redis.js";
import type { DockerClient } from "../runtime/docker/client.js";

/** A sample of the host: CPU busy over the last interval (0-100), memory in bytes. */
export interface HostSample {
  t: number;
  cpuPercent: number;
  memUsedBytes: number;
  memTotalBytes: number;
  load1: number;
}

/** Keeps the last `capacity` items. */
export class Ring<T> {
  private readonly items: T[] = [];
  constructor(private readonly capacity: number) {}
  push(x: T): void {
    this.items.push(x);
    if (this.items.length > this.capacity) this.items.shift();
  }
  all(): T[] {
    return this.items.slice();
  }
  last(): T | undefined {
    return this.items.at(-1);
  }
}

/** Memory in use (MemTotal - MemAvailable from /proc/meminfo; total - free elsewhere). */
function memUsed(): number {
  try {
    const info = readFileSync("/proc/meminfo", "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(info)?.[1] ?? 0);
    return (kb("MemTotal") - kb("MemAvailable")) * 1024;
  } catch {
    return 0;
  }
}

/** Samples the host's CPU (busy share of all cores since the last call) and memory. */
export class HostSampler {
  private prev = cpus().map((c) => c.times);

  sample(now = Date.now()): HostSample {
    const cur = cpus().map((c) => c.times);
    let busy = 0;
    let total = 0;
    cur.forEach((t, i) => {
      const p = this.prev[i] ?? t;
      const d = (k: keyof typeof t) => t[k] - p[k];
      const all = d("user") + d("nice") + d("sys") + d("idle") + d("irq");
      busy += all - d("idle");
      total += all;
    });
    this.prev = cur;
    return {
      t: now,
      cpuPercent: total > 0 ? Math.round((busy / total) * 1000) / 10 : 0,
      memUsedBytes: memUsed(),
      memTotalBytes: totalmem(),
      load1: loadavg()[0] ?? 0,
    };
  }
}

export type CheckState = "ok" | "warn" | "down" | "unknown";

/** One line of the overview's health panel. */
export interface HealthCheck {
  name: "engine" | "criu" | "redis" | "node" | "hub";
  status: CheckState;
  detail: string;
}

/** Whether a URL answers 2xx within 2 s, with its JSON body. */
export async function probe(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ok: boolean; body: unknown; error: string }> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(2000) });
    const body = (await res.json().catch(() => null)) as unknown;
    return { ok: res.ok, body, error: res.ok ? "" : `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, body: null, error: (err as Error).message };
  }
}

/**
 * The health of what the product runs on: the engine (ping), CRIU (`criu check`, slow, so
 * refreshed every `criuEveryMs`), Redis (a TCP connect), the node (`GET /info`) and the hub
 * (`GET /health`).
 */
export class HealthChecks {
  private criu: HealthCheck = { name: "criu", status: "unknown", detail: "not checked yet" };
  private criuAt = 0;

  constructor(
    private readonly o: {
      docker?: DockerClient | undefined;
      redisPort: number;
      hubURL: string;
      nodeURL: () => string | undefined;
      criuEveryMs?: number;
    },
  ) {}

  private refreshCriu(): void {
    if (Date.now() - this.criuAt < (this.o.criuEveryMs ?? 300_000)) return;
    this.criuAt = Date.now();
    void criuStatus().then(
      (s) =>
        (this.criu = {
          name: "criu",
          status: s.works ? "ok" : s.installed ? "warn" : "down",
          detail: s.detail,
        }),
      (err: unknown) => (this.criu = { name: "criu", status: "unknown", detail: String(err) }),
    );
  }

  async run(): Promise<HealthCheck[]> {
    this.refreshCriu();
    const nodeURL = this.o.nodeURL();
    const [engine, redis, node, hub] = await Promise.all([
      this.o.docker
        ? this.o.docker.ping().then(
            () => ({ status: "ok" as const, detail: this.o.docker!.address.display }),
            (err: Error) => ({
              status: "down" as const,
              detail: `${this.o.docker!.address.display}: ${err.message}`,
            }),
          )
        : Promise.resolve({ status: "unknown" as const, detail: "no engine configured" }),
      redisAnswers(this.o.redisPort),
      nodeURL ? probe(`${nodeURL}/info`) : Promise.resolve(undefined),
      probe(`${this.o.hubURL}/health`),
    ]);
    const nodeInfo = node?.body as { "Vm-Count"?: number; Node?: { "Acc-Id"?: string } } | null;
    const hubInfo = hub.body as { agents?: number; connected?: number; store?: string } | null;
    return [
      { name: "engine", ...engine },
      this.criu,
      {
        name: "redis",
        status: redis ? "ok" : "warn",
        detail: redis
          ? `answers on 127.0.0.1:${this.o.redisPort}`
          : `nothing answers on 127.0.0.1:${this.o.redisPort} (needed only for the Redis stores)`,
      },
      !node
        ? { name: "node", status: "unknown", detail: "no node configured (--node-url)" }
        : node.ok
          ? {
              name: "node",
              status: "ok",
              detail: `${nodeURL}, ${nodeInfo?.["Vm-Count"] ?? 0} VMs, wallet ${nodeInfo?.Node?.["Acc-Id"] ?? "?"}`,
            }
          : { name: "node", status: "down", detail: `${nodeURL}: ${node.error}` },
      hub.ok
        ? {
            name: "hub",
            status: "ok",
            detail: `${this.o.hubURL}, store ${hubInfo?.store ?? "?"}, ${hubInfo?.connected ?? 0}/${hubInfo?.agents ?? 0} agents connected`,
          }
        : { name: "hub", status: "down", detail: `${this.o.hubURL}: ${hub.error}` },
    ];
  }
}
