import { useEffect, useRef, useState } from "preact/hooks";
import { OutputTail, type OutputChunk } from "../../../agents/hub/output-tail.js";
import type { TaskRecord } from "../../../agents/hub/store.js";
import { duration } from "../../format.js";
import { Pill, kindOf } from "../ui";

/** Exit code as the CLI reports it (124 for a timeout, 130 for a cancel). */
export function taskExitCode(t: Pick<TaskRecord, "status" | "exitCode">): number | null {
  if (t.status === "succeeded") return 0;
  if (t.status === "timeout") return 124;
  if (t.status === "cancelled") return 130;
  return t.exitCode;
}

/** How much of a task's output the page keeps on screen (characters, the latest). */
const SHOWN_CHARS = 128 * 1024;

/**
 * A task's output as it is produced (the hub's output stream through the dashboard), then its
 * final status, exit code and duration. Only the latest {@link SHOWN_CHARS} characters are kept,
 * and the screen is redrawn at most every 200 ms, so a task printing megabytes a second leaves
 * the page responsive.
 */
export function TaskOutput(props: { id: string }) {
  const [chunks, setChunks] = useState<OutputChunk[]>([]);
  const [dropped, setDropped] = useState(0);
  const [done, setDone] = useState<TaskRecord | null>(null);
  const [state, setState] = useState("waiting");
  const pre = useRef<HTMLPreElement>(null);
  const atEnd = useRef(true);
  useEffect(() => {
    const tail = new OutputTail(SHOWN_CHARS);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const draw = () => {
      timer = undefined;
      setChunks(tail.merged());
      setDropped(tail.dropped);
    };
    setChunks([]);
    setDropped(0);
    setDone(null);
    setState("waiting");
    atEnd.current = true;
    const es = new EventSource(`/api/tasks/${props.id}/stream`);
    es.addEventListener("output", (m) => {
      setState("running");
      tail.push(JSON.parse((m as MessageEvent<string>).data) as OutputChunk);
      timer ??= setTimeout(draw, 200);
    });
    es.addEventListener("done", (m) => {
      if (timer) clearTimeout(timer);
      draw();
      setDone(JSON.parse((m as MessageEvent<string>).data) as TaskRecord);
      es.close();
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) setState("stream closed");
    };
    return () => {
      if (timer) clearTimeout(timer);
      es.close();
    };
  }, [props.id]);
  useEffect(() => {
    const el = pre.current;
    // Follow the end unless the reader scrolled up.
    if (el && atEnd.current) el.scrollTop = el.scrollHeight;
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
            <span data-testid="task-exit-code">exit code {taskExitCode(done) ?? "–"}</span>
            <span class="muted">
              {duration(done.finishedAt && done.finishedAt - (done.startedAt ?? done.createdAt))}
            </span>
            {done.error && <span class="error-text">{done.error}</span>}
          </>
        ) : (
          <Pill kind="busy">{state}</Pill>
        )}
      </div>
      {dropped > 0 && (
        <p class="muted output-dropped" data-testid="task-output-dropped">
          … {dropped.toLocaleString()} earlier characters not shown (the latest{" "}
          {SHOWN_CHARS.toLocaleString()} are)
        </p>
      )}
      <pre
        ref={pre}
        data-testid="task-output-text"
        onScroll={(e) => {
          const el = e.currentTarget;
          atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {chunks.map((c, i) => (
          <span key={i} class={c.stream === "stderr" ? "stderr" : ""}>
            {c.data}
          </span>
        ))}
      </pre>
    </div>
  );
}
