import { useState } from "preact/hooks";
import { ago, shortId } from "../../format.js";
import type { ProcessRow } from "../../../node/process-row.js";
import { api, qs } from "../api";
import { useLiveQuery, useNow } from "../hooks";
import { ActionButton, Empty, Pager, Pill } from "../ui";

interface ProcessPage {
  total: number;
  running: number;
  offset: number;
  limit: number;
  admin: boolean;
  processes: ProcessRow[];
}

interface Result {
  nonce: number;
  itemId: string;
  timestamp: number;
  data: string;
  error: string;
  messages: number;
}

const PAGE = 25;

function Results(props: { pid: string }) {
  const { data } = useLiveQuery<{ results: Result[] }>(
    `/api/processes/${props.pid}/results?limit=10`,
    (e, d) => e === "process.result" && (d as { pid?: string }).pid === props.pid,
  );
  return (
    <div class="detail" data-testid="process-results">
      <h3 class="mono">results of {shortId(props.pid, 8)}</h3>
      {!data || data.results.length === 0 ? (
        <p class="muted">No results yet.</p>
      ) : (
        <table class="grid">
          <thead>
            <tr>
              <th>Nonce</th>
              <th>Message</th>
              <th>Data</th>
              <th>Error</th>
              <th>Out</th>
            </tr>
          </thead>
          <tbody>
            {data.results.map((r) => (
              <tr key={r.itemId} data-testid={`result-${r.nonce}`}>
                <td>{r.nonce}</td>
                <td class="mono">{shortId(r.itemId, 8)}</td>
                <td class="mono ellipsis" title={r.data}>
                  {r.data || "–"}
                </td>
                <td class="error-text" title={r.error}>
                  {r.error}
                </td>
                <td>{r.messages ? `${r.messages} msg` : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function ProcessesView() {
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | null>(null);
  const { data, error } = useLiveQuery<ProcessPage>(
    `/api/processes${qs({ offset, limit: PAGE })}`,
    (e) => e.startsWith("process."),
    500,
  );
  const now = useNow(2000);
  return (
    <section>
      <h2>Processes</h2>
      <p class="muted">
        The node's processes: {data ? `${data.running} running of ${data.total}` : "…"}.
        {data && !data.admin && " Stop and resume need the node's admin API (adminPort)."}
      </p>
      {error && <p class="error-text">{error}</p>}
      {data && data.total === 0 ? (
        <Empty title="No processes" testid="processes-empty">
          <p>
            Spawn one: <code>vmdocker spawn --module MODULE_ID --wait</code>
          </p>
        </Empty>
      ) : (
        <table class="grid clickable" data-testid="processes-table">
          <thead>
            <tr>
              <th>Process</th>
              <th>State</th>
              <th>Module</th>
              <th>Runtime</th>
              <th>Backend</th>
              <th>Checkpoint</th>
              <th>Nonce</th>
              <th>Msg/min</th>
              <th>Last message</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data?.processes.map((p) => (
              <tr
                key={p.pid}
                data-testid={`process-row-${p.pid}`}
                class={selected === p.pid ? "selected" : ""}
                onClick={() => setSelected(p.pid)}
              >
                <td class="mono" title={p.pid}>
                  {shortId(p.pid, 8)}
                  {p.core && <span class="tag">{p.core}</span>}
                </td>
                <td>
                  <Pill
                    kind={p.running ? "ok" : p.failed ? "bad" : "idle"}
                    testid={`process-state-${p.pid}`}
                  >
                    <span title={p.failed ?? undefined}>
                      {p.running ? "running" : p.failed ? "failed" : "stopped"}
                    </span>
                  </Pill>
                </td>
                <td class="mono" title={p.module}>
                  {shortId(p.module, 6)}
                </td>
                <td title={p.runtime}>{p.runtime}</td>
                <td class="cell-short" title={p.backend}>
                  {p.backend}
                </td>
                <td class="cell-short" title={p.checkpointKind}>
                  {p.checkpointKind}
                </td>
                <td data-testid={`process-nonce-${p.pid}`}>{p.nonce}</td>
                <td>{p.messagesPerMinute}</td>
                <td>{p.lastMessageAt ? ago(p.lastMessageAt, now) : "–"}</td>
                <td class="cell-actions">
                  {!p.core && !p.failed && data.admin && (
                    <div class="actions">
                      {p.running ? (
                        <ActionButton
                          label="Stop"
                          testid={`process-stop-${p.pid}`}
                          run={() => api(`/api/processes/${p.pid}/stop`, { method: "POST" })}
                        />
                      ) : (
                        <ActionButton
                          label="Resume"
                          testid={`process-resume-${p.pid}`}
                          run={() => api(`/api/processes/${p.pid}/resume`, { method: "POST" })}
                        />
                      )}
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && <Pager offset={offset} limit={PAGE} total={data.total} onOffset={setOffset} />}
      {selected && <Results pid={selected} />}
    </section>
  );
}
