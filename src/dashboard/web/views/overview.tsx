import { useEffect, useState } from "preact/hooks";
import type { TaskMetrics } from "../../../agents/hub/metrics.js";
import { bytes, duration, perMin, ratio } from "../../format.js";
import type { HealthCheck, HostSample } from "../../host.js";
import { TimeChart } from "../chart";
import { useLiveQuery } from "../hooks";
import { onEvent } from "../live";
import { Pill, kindOf } from "../ui";

interface Overview {
  checks: HealthCheck[];
  counts: {
    agents: number | null;
    connected: number | null;
    processes: number | null;
    running: number | null;
    bots: { total: number; running: number; healthy: number } | null;
    tasks: Record<string, number> | null;
  };
  tasks: TaskMetrics | null;
  host: HostSample[];
}

const AFFECTS =
  /^(health|bots|agent\.(connected|disconnected|created|removed)|task\.(queued|finished)|process\.(spawned|stopped|resumed))$/;

function Tile(props: {
  label: string;
  value: string;
  sub?: string;
  href?: string;
  testid?: string;
}) {
  return (
    <a class="tile" href={props.href} data-testid={props.testid}>
      <span class="tile-label">{props.label}</span>
      <span class="tile-value">{props.value}</span>
      {props.sub && <span class="tile-sub">{props.sub}</span>}
    </a>
  );
}

const n = (v: number | null | undefined) =>
  v === null || v === undefined ? "–" : v.toLocaleString();

export function OverviewView() {
  const { data } = useLiveQuery<Overview>("/api/overview", (e) => AFFECTS.test(e), 1000);
  const [host, setHost] = useState<HostSample[]>([]);
  useEffect(() => {
    if (data) setHost(data.host);
  }, [data]);
  useEffect(
    () =>
      onEvent((event, d) => {
        if (event === "host") setHost((h) => [...h.slice(-299), d as HostSample]);
      }),
    [],
  );
  if (!data) return <p class="muted">Loading…</p>;
  const c = data.counts;
  const t = data.tasks;
  const latest = host.at(-1);
  const active = (c.tasks?.queued ?? 0) + (c.tasks?.dispatched ?? 0) + (c.tasks?.running ?? 0);
  return (
    <section>
      <h2>Overview</h2>
      <div class="checks" data-testid="checks">
        {data.checks.map((ch) => (
          <div
            class={`check check-${kindOf(ch.status)}`}
            key={ch.name}
            data-testid={`check-${ch.name}`}
          >
            <div class="check-head">
              <strong>{ch.name}</strong>
              <Pill kind={kindOf(ch.status)}>{ch.status}</Pill>
            </div>
            <div class="check-detail">{ch.detail}</div>
          </div>
        ))}
      </div>
      <div class="tiles">
        <Tile
          label="Agents"
          value={`${n(c.connected)} / ${n(c.agents)}`}
          sub="connected / all"
          href="#/agents"
          testid="tile-agents"
        />
        <Tile
          label="Processes"
          value={`${n(c.running)} / ${n(c.processes)}`}
          sub="running / all"
          href="#/processes"
          testid="tile-processes"
        />
        <Tile
          label="Bots"
          value={c.bots ? `${c.bots.running} / ${c.bots.total}` : "–"}
          sub={c.bots ? "running / all" : "vm-ctl not installed"}
          href="#/bots"
          testid="tile-bots"
        />
        <Tile
          label="Tasks active"
          value={n(active)}
          sub={`${n(c.tasks ? (c.tasks.queued ?? 0) : null)} queued`}
          href="#/tasks"
        />
        <Tile
          label="Tasks / min (1 h)"
          value={t ? perMin(t.ratePerMin) : "–"}
          sub={`success ${ratio(t?.successRatio)}`}
          href="#/tasks"
        />
        <Tile
          label="Task p50 / p95"
          value={t ? `${duration(t.p50Ms)} / ${duration(t.p95Ms)}` : "–"}
          sub="last hour"
          href="#/tasks"
        />
        <Tile
          label="Host CPU"
          value={latest ? `${latest.cpuPercent.toFixed(0)}%` : "–"}
          sub={latest ? `load ${latest.load1.toFixed(2)}` : ""}
        />
        <Tile
          label="Host memory"
          value={latest ? bytes(latest.memUsedBytes) : "–"}
          sub={latest ? `of ${bytes(latest.memTotalBytes)}` : ""}
        />
      </div>
      <div class="charts two">
        <TimeChart
          title="Host CPU"
          testid="chart-host-cpu"
          axis="percent"
          series={[{ label: "CPU", color: "#5794f2", fmt: (v) => `${v.toFixed(0)}%` }]}
          data={[host.map((s) => s.t / 1000), host.map((s) => s.cpuPercent)]}
        />
        <TimeChart
          title="Host memory"
          testid="chart-host-mem"
          axis="bytes"
          series={[{ label: "used", color: "#73bf69", fmt: bytes }]}
          data={[host.map((s) => s.t / 1000), host.map((s) => s.memUsedBytes)]}
        />
      </div>
    </section>
  );
}
