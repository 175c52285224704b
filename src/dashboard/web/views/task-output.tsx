import { useEffect, useRef, useState } from "preact/hooks";
import type { TaskRecord } from "../../../agents/hub/store.js";
import { duration } from "../../format.js";
import { Pill, kindOf } from "../ui";

/** Exit code as the CLI reports it (124 for a timeout, 130 for a cancel). */
function exitCode(t: TaskRecord): number | null {
  if (t.status === "succeeded") return 0;
  if (t.status === "timeout") return 124;
  if (t.status === "cancelled") return 130;
  return t.exitCode;
}

/**
 * A task's output as it is produced (the hub's output stream through the dashboard), then its
 * final status, exit code and duration.
 */
export function TaskOutput(props: { id: string }) {
  const [chunks, setChunks] = useState<{ stream: string; data: string }[]>([]);
  const [done, setDone] = useState<TaskRecord | null>(null);
  const [state, setState] = useState("waiting");
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    setChunks([]);
    setDone(null);
    setState("waiting");
    const es = new EventSource(`/api/tasks/${props.id}/stream`);
    es.addEventListener("output", (m) => {
      setState("running");
      const o = JSON.parse((m as MessageEvent<string>).data) as { stream: string; data: string };
      setChunks((c) => [...c, o].slice(-2000));
    });
    es.addEventListener("done", (m) => {
      setDone(JSON.parse((m as MessageEvent<string>).data) as TaskRecord);
      es.close();
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) setState("stream closed");
    };
    return () => es.close();
  }, [props.id]);
  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [chunks]);
  return (
    <div class="task-output" data-testid="task-output">
      <div class="task-output-head">
        <span class="mono">task {props.id.slice(0, 8)}</span>
        {done ? (
          <>
            <Pill kind={kindOf(done.status)} testid="task-final-status">
              {done.status}
            </Pill>
            <span data-testid="task-exit-code">exit code {exitCode(done) ?? "–"}</span>
            <span class="muted">
              {duration(done.finishedAt && done.finishedAt - (done.startedAt ?? done.createdAt))}
            </span>
            {done.error && <span class="error-text">{done.error}</span>}
          </>
        ) : (
          <Pill kind="busy">{state}</Pill>
        )}
      </div>
      <pre ref={pre} data-testid="task-output-text">
        {chunks.map((c, i) => (
          <span key={i} class={c.stream === "stderr" ? "stderr" : ""}>
            {c.data}
          </span>
        ))}
      </pre>
    </div>
  );
}
