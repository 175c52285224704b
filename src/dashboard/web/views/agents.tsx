import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { TaskRecord } from "../../../agents/hub/store.js";
import type { AgentRow, AgentStatus } from "../../agents.js";
import { ago, bytes, duration } from "../../format.js";
import type { HealthPoint } from "../../live.js";
import { api, qs } from "../api";
import { TimeChart } from "../chart";
import { useLiveQuery, useNow } from "../hooks";
import { onEvent } from "../live";
import { ActionButton, Empty, Meter, Pager, Pill, kindOf } from "../ui";
import { TaskOutput } from "./task-output";

interface AgentPage {
  total: number;
  offset: number;
  limit: number;
  counts: Record<AgentStatus | "all", number>;
  agents: AgentRow[];
}

const STATUSES: (AgentStatus | "")[] = ["", "connected", "disconnected", "starting", "stopped"];
const PAGE = 25;

function Actions(props: { a: AgentRow }) {
  const name = props.a.name;
  const post = (what: string) => () => api(`/api/agents/${name}/${what}`, { method: "POST" });
  const up = props.a.status === "connected" || props.a.status === "starting";
  return (
    <div class="actions">
      <ActionButton label="Start" run={post("start")} disabled={up} testid={`start-${name}`} />
      <ActionButton
        label="Stop"
        run={post("stop")}
        disabled={props.a.status === "stopped"}
        testid={`stop-${name}`}
      />
      <ActionButton
        label="Snapshot"
        run={post("snapshot")}
        note={(out) => `saved as ${(out as { reference: string }).reference.split(":").pop()}`}
        testid={`snapshot-${name}`}
      />
      <ActionButton
        label="Destroy"
        danger
        confirm={`Destroy agent ${name}? Its container and hub record are removed (its /workspace volume is kept).`}
        run={() => api(`/api/agents/${name}`, { method: "DELETE" })}
        testid={`destroy-${name}`}
      />
    </div>
  );
}

function ExecConsole(props: { agent: string; connected: boolean }) {
  const [command, setCommand] = useState("");
  const [task, setTask] = useState<string | null>(null);
  const [error, setError] = useState("");
  return (
    <div class="exec">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setError("");
          try {
            const t = await api<TaskRecord>(`/api/agents/${props.agent}/exec`, {
              method: "POST",
              body: { command },
            });
            setTask(t.id);
          } catch (err) {
            setError((err as Error).message);
          }
        }}
      >
        <span class="prompt mono">{props.agent} $</span>
        <input
          class="mono"
          value={command}
          placeholder={
            props.connected ? "a shell command, e.g. node --version" : "the agent is not connected"
          }
          disabled={!props.connected}
          data-testid="exec-input"
          onInput={(e) => setCommand((e.target as HTMLInputElement).value)}
        />
        <button type="submit" disabled={!props.connected || !command.trim()} data-testid="exec-run">
          Run
        </button>
      </form>
      {error && <p class="error-text">{error}</p>}
      {task && <TaskOutput id={task} />}
    </div>
  );
}

function AgentDetail(props: { a: AgentRow }) {
  const name = props.a.name;
  const [points, setPoints] = useState<HealthPoint[]>([]);
  useEffect(() => {
    setPoints([]);
    void api<{ points: HealthPoint[] }>(`/api/agents/${name}/health`).then((r) =>
      setPoints(r.points),
    );
    return onEvent((event, d) => {
      const e = d as { agent?: string; point?: HealthPoint };
      if (event === "agent.health" && e.agent === name && e.point)
        setPoints((p) => [...p.slice(-359), e.point!]);
    });
  }, [name]);
  const xs = points.map((p) => p.t / 1000);
  return (
    <div class="detail" data-testid="agent-detail">
      <div class="detail-head">
        <h3 class="mono">{name}</h3>
        <Pill kind={kindOf(props.a.status)}>{props.a.status}</Pill>
        <a href={`#/tasks?agent=${name}`}>tasks of {name} ›</a>
      </div>
      <div class="charts three">
        <TimeChart
          title="CPU"
          testid="chart-agent-cpu"
          axis="percent"
          series={[{ label: "CPU", color: "#5794f2", fmt: (v) => `${v.toFixed(1)}%` }]}
          data={[xs, points.map((p) => p.cpuPercent)]}
        />
        <TimeChart
          title="Memory"
          testid="chart-agent-memory"
          axis="bytes"
          series={[{ label: "memory", color: "#73bf69", fmt: bytes }]}
          data={[xs, points.map((p) => p.memoryBytes)]}
        />
        <TimeChart
          title="Disk (/workspace)"
          testid="chart-agent-disk"
          axis="bytes"
          series={[{ label: "used", color: "#ff9830", fmt: bytes }]}
          data={[xs, points.map((p) => p.diskUsedBytes)]}
        />
      </div>
      <h4>Exec</h4>
      <ExecConsole agent={name} connected={props.a.status === "connected"} />
    </div>
  );
}

export function AgentsView(props: { params: URLSearchParams }) {
  const [status, setStatus] = useState<AgentStatus | "">("");
  const [q, setQ] = useState("");
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | null>(props.params.get("agent"));
  const path = `/api/agents${qs({ status, q, offset, limit: PAGE })}`;
  const { data, error, requestedAt } = useLiveQuery<AgentPage>(path, (e) =>
    /^agent\.(connected|disconnected|created|removed|container|action)$/.test(e),
  );
  const [rows, setRows] = useState<AgentRow[]>([]);
  // Connection changes seen live, kept over any page asked for before they happened.
  const seen = useRef(new Map<string, { status: AgentStatus; at: number }>());
  useEffect(
    () =>
      setRows(
        (data?.agents ?? []).map((r) => {
          const s = seen.current.get(r.name);
          return s && s.at > requestedAt ? { ...r, status: s.status } : r;
        }),
      ),
    [data, requestedAt],
  );
  // Health reports update rows in place: no reload per report.
  useEffect(
    () =>
      onEvent((event, d) => {
        const e = d as { agent?: string; report?: AgentRow["health"] };
        // Connection changes show at once; the reload that follows brings the rest.
        if ((event === "agent.connected" || event === "agent.disconnected") && e.agent) {
          const status: AgentStatus = event === "agent.connected" ? "connected" : "disconnected";
          seen.current.set(e.agent, { status, at: Date.now() });
          setRows((rs) => rs.map((r) => (r.name === e.agent ? { ...r, status } : r)));
        }
        if (event === "agent.health" && e.agent)
          setRows((rs) =>
            rs.map((r) =>
              r.name === e.agent ? { ...r, health: e.report ?? null, lastSeen: Date.now() } : r,
            ),
          );
      }),
    [],
  );
  const now = useNow(1000);
  const sel = useMemo(() => rows.find((r) => r.name === selected), [rows, selected]);
  return (
    <section>
      <h2>Agents</h2>
      <div class="toolbar">
        <div class="segmented">
          {STATUSES.map((s) => (
            <button
              key={s}
              class={status === s ? "on" : ""}
              data-testid={`filter-${s || "all"}`}
              onClick={() => {
                setStatus(s);
                setOffset(0);
              }}
            >
              {s || "all"} <span class="count">{data?.counts[s || "all"] ?? ""}</span>
            </button>
          ))}
        </div>
        <input
          placeholder="name contains…"
          value={q}
          data-testid="agent-search"
          onInput={(e) => {
            setQ((e.target as HTMLInputElement).value);
            setOffset(0);
          }}
        />
      </div>
      {error && <p class="error-text">{error}</p>}
      {data && data.total === 0 ? (
        <Empty title="No agents" testid="agents-empty">
          <p>
            Create one: <code>docker-agent create my-builder --profile builder</code>
          </p>
        </Empty>
      ) : (
        <table class="grid clickable" data-testid="agents-table">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Status</th>
              <th>Profile</th>
              <th>Uptime</th>
              <th>Last seen</th>
              <th>CPU</th>
              <th>Memory</th>
              <th>Disk</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((a) => {
              const h = a.health;
              return (
                <tr
                  key={a.name}
                  data-testid={`agent-row-${a.name}`}
                  class={selected === a.name ? "selected" : ""}
                  onClick={() => setSelected(a.name)}
                >
                  <td class="mono">{a.name}</td>
                  <td>
                    <Pill kind={kindOf(a.status)} testid={`agent-status-${a.name}`}>
                      {a.status}
                    </Pill>
                  </td>
                  <td>{a.profile}</td>
                  <td>{a.uptimeSeconds === null ? "–" : duration(a.uptimeSeconds * 1000)}</td>
                  <td>{ago(a.lastSeen, now)}</td>
                  <td>
                    {h ? (
                      <Meter value={h.cpuPercent / 100} label={`${h.cpuPercent.toFixed(1)}%`} />
                    ) : (
                      "–"
                    )}
                  </td>
                  <td>
                    {h ? (
                      <Meter
                        value={h.memoryLimitBytes ? h.memoryBytes / h.memoryLimitBytes : null}
                        label={`${bytes(h.memoryBytes)}${h.memoryLimitBytes ? ` / ${bytes(h.memoryLimitBytes)}` : ""}`}
                      />
                    ) : (
                      "–"
                    )}
                  </td>
                  <td>
                    {h ? (
                      <Meter
                        value={h.diskTotalBytes ? h.diskUsedBytes / h.diskTotalBytes : null}
                        label={bytes(h.diskUsedBytes)}
                      />
                    ) : (
                      "–"
                    )}
                  </td>
                  <td class="cell-actions">
                    <Actions a={a} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {data && <Pager offset={offset} limit={PAGE} total={data.total} onOffset={setOffset} />}
      {sel && <AgentDetail a={sel} />}
    </section>
  );
}
