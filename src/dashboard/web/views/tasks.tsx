import { useEffect, useState } from "preact/hooks";
import type { TaskMetrics } from "../../../agents/hub/metrics.js";
import { TASK_STATES } from "../../../agents/hub/states.js";
import type { TaskSummary } from "../../../agents/hub/store.js";
import { ago, duration, perMin, ratio, shortId } from "../../format.js";
import { qs } from "../api";
import { TimeChart } from "../chart";
import { useLiveQuery, useNow } from "../hooks";
import { Empty, Pager, Pill, kindOf } from "../ui";
import { TaskOutput, taskExitCode } from "./task-output";

interface TaskPage {
  total: number;
  offset: number;
  limit: number;
  tasks: TaskSummary[];
}

const PAGE = 50;
const STATES = ["", "active", "finished", ...TASK_STATES];

function Metrics() {
  const { data: m } = useLiveQuery<TaskMetrics>(
    "/api/tasks/metrics?windowMs=3600000&bucketMs=60000",
    (e) => e === "task.finished",
    2000,
  );
  if (!m) return null;
  const xs = m.buckets.map((b) => b.t / 1000);
  return (
    <div class="metrics" data-testid="task-metrics">
      <div class="tiles">
        <div class="tile">
          <span class="tile-label">Rate (last hour)</span>
          <span class="tile-value">{perMin(m.ratePerMin)}/min</span>
          <span class="tile-sub">{m.finished.toLocaleString()} finished</span>
        </div>
        <div class="tile">
          <span class="tile-label">Success ratio</span>
          <span class="tile-value" data-testid="success-ratio">
            {ratio(m.successRatio)}
          </span>
          <span class="tile-sub">{m.failed.toLocaleString()} not succeeded</span>
        </div>
        <div class="tile">
          <span class="tile-label">Duration p50</span>
          <span class="tile-value">{duration(m.p50Ms)}</span>
        </div>
        <div class="tile">
          <span class="tile-label">Duration p95</span>
          <span class="tile-value">{duration(m.p95Ms)}</span>
        </div>
        <div class="tile">
          <span class="tile-label">Active now</span>
          <span class="tile-value">
            {(
              (m.states.queued ?? 0) +
              (m.states.dispatched ?? 0) +
              (m.states.running ?? 0)
            ).toLocaleString()}
          </span>
          <span class="tile-sub">{(m.states.queued ?? 0).toLocaleString()} queued</span>
        </div>
      </div>
      <div class="charts two">
        <TimeChart
          title="Finished per minute"
          testid="chart-task-rate"
          axis="count"
          series={[
            { label: "succeeded", color: "#73bf69", fmt: (v) => v.toFixed(0) },
            { label: "failed", color: "#f2495c", fmt: (v) => v.toFixed(0) },
          ]}
          data={[xs, m.buckets.map((b) => b.succeeded), m.buckets.map((b) => b.failed)]}
        />
        <TimeChart
          title="Duration"
          testid="chart-task-duration"
          axis="ms"
          series={[
            { label: "p50", color: "#5794f2", fmt: duration },
            { label: "p95", color: "#b877d9", fmt: duration },
          ]}
          data={[xs, m.buckets.map((b) => b.p50Ms), m.buckets.map((b) => b.p95Ms)]}
        />
      </div>
    </div>
  );
}

export function TasksView(props: { params: URLSearchParams }) {
  const [agent, setAgent] = useState(props.params.get("agent") ?? "");
  const [status, setStatus] = useState(props.params.get("status") ?? "");
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  useEffect(() => setAgent(props.params.get("agent") ?? ""), [props.params.get("agent")]);
  const path = `/api/tasks${qs({ agent, status, offset, limit: PAGE })}`;
  const { data, error } = useLiveQuery<TaskPage>(path, (e, d) => {
    if (!e.startsWith("task.")) return false;
    const t = (d as { task?: TaskSummary }).task;
    return !agent || t?.agent === agent;
  });
  const now = useNow(1000);
  return (
    <section>
      <h2>Tasks</h2>
      <Metrics />
      <div class="toolbar">
        <label>
          agent{" "}
          <input
            value={agent}
            placeholder="any"
            data-testid="task-agent-filter"
            onChange={(e) => {
              setAgent((e.target as HTMLInputElement).value.trim());
              setOffset(0);
            }}
          />
        </label>
        <label>
          status{" "}
          <select
            value={status}
            data-testid="task-status-filter"
            onChange={(e) => {
              setStatus((e.target as HTMLSelectElement).value);
              setOffset(0);
            }}
          >
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && <p class="error-text">{error}</p>}
      {data && data.total === 0 ? (
        <Empty title="No tasks" testid="tasks-empty">
          <p>
            Run one: <code>docker-agent exec my-builder "node --version"</code>
          </p>
        </Empty>
      ) : (
        <table class="grid clickable" data-testid="tasks-table">
          <thead>
            <tr>
              <th>Task</th>
              <th>Agent</th>
              <th>Command</th>
              <th>Status</th>
              <th>Duration</th>
              <th>Exit</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {data?.tasks.map((t) => (
              <tr
                key={t.id}
                data-testid={`task-row-${t.id}`}
                class={selected === t.id ? "selected" : ""}
                onClick={() => setSelected(t.id)}
              >
                <td class="mono">{shortId(t.id, 8)}</td>
                <td class="mono">{t.agent}</td>
                <td class="mono ellipsis" title={t.command ?? t.type}>
                  {t.command ?? t.type}
                </td>
                <td>
                  <Pill kind={kindOf(t.status)} testid={`task-status-${t.id}`}>
                    {t.status}
                  </Pill>
                </td>
                <td>
                  {t.finishedAt
                    ? duration(t.finishedAt - (t.startedAt ?? t.createdAt))
                    : t.startedAt
                      ? `${duration(now - t.startedAt)}…`
                      : "–"}
                </td>
                <td>{taskExitCode(t) ?? "–"}</td>
                <td>{ago(t.createdAt, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && <Pager offset={offset} limit={PAGE} total={data.total} onOffset={setOffset} />}
      {selected && <TaskOutput id={selected} />}
    </section>
  );
}
