import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { TaskOutcome, TaskSpec } from "./wire.js";

const MAX_KEPT_OUTPUT = 1024 * 1024;

export interface RunningTask {
  done: Promise<TaskOutcome>;
  cancel(): void;
}

type Emit = (stream: "stdout" | "stderr", data: string) => void;

function finished(
  task: TaskSpec,
  startedAt: number,
  rest: Omit<TaskOutcome, "taskId" | "startedAt" | "finishedAt">,
): TaskOutcome {
  return { taskId: task.id, startedAt, finishedAt: Date.now(), ...rest };
}

/** Runs `sh -c <command>` in its own process group; a timeout or a cancel kills the whole group. */
function runExec(task: TaskSpec, workdir: string, emit: Emit): RunningTask {
  const startedAt = Date.now();
  const child: ChildProcess = spawn("/bin/sh", ["-c", task.command ?? ""], {
    cwd: task.cwd ? resolve(workdir, task.cwd) : workdir,
    env: { ...process.env, ...(task.env ?? {}) },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  let ended: "timeout" | "cancelled" | undefined;
  const keep = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    if (output.length < MAX_KEPT_OUTPUT) output += text.slice(0, MAX_KEPT_OUTPUT - output.length);
    emit(stream, text);
  };
  child.stdout!.on("data", keep("stdout"));
  child.stderr!.on("data", keep("stderr"));
  const kill = (why: "timeout" | "cancelled") => {
    if (ended || child.exitCode !== null) return;
    ended = why;
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      child.kill("SIGKILL");
    }
  };
  const timer = task.timeoutMs ? setTimeout(() => kill("timeout"), task.timeoutMs) : undefined;
  const done = new Promise<TaskOutcome>((res) => {
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      res(
        finished(task, startedAt, { status: "failed", exitCode: null, output, error: err.message }),
      );
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (ended === "timeout")
        return res(
          finished(task, startedAt, {
            status: "timeout",
            exitCode: null,
            output,
            error: `timed out after ${task.timeoutMs} ms`,
          }),
        );
      if (ended === "cancelled")
        return res(
          finished(task, startedAt, {
            status: "cancelled",
            exitCode: null,
            output,
            error: "cancelled",
          }),
        );
      const exitCode = code ?? (signal ? 128 : 1);
      res(
        finished(task, startedAt, {
          status: exitCode === 0 ? "succeeded" : "failed",
          exitCode,
          output,
          ...(signal ? { error: `killed by ${signal}` } : {}),
        }),
      );
    });
  });
  return { done, cancel: () => kill("cancelled") };
}

function immediate(task: TaskSpec, work: () => string): RunningTask {
  const startedAt = Date.now();
  let outcome: TaskOutcome;
  try {
    outcome = finished(task, startedAt, { status: "succeeded", exitCode: 0, output: work() });
  } catch (err) {
    outcome = finished(task, startedAt, {
      status: "failed",
      exitCode: 1,
      output: "",
      error: (err as Error).message,
    });
  }
  return { done: Promise.resolve(outcome), cancel: () => {} };
}

export const TASK_TYPES = ["exec", "write_file", "read_file"] as const;

/** Starts a task: `exec` {command}, `write_file` {path, content}, `read_file` {path}; paths are relative to the workspace. */
export function startTask(task: TaskSpec, workdir: string, emit: Emit): RunningTask {
  switch (task.type) {
    case "exec":
      if (typeof task.command !== "string" || !task.command)
        return immediate(task, () => {
          throw new Error("an exec task needs a command");
        });
      return runExec(task, workdir, emit);
    case "write_file":
      return immediate(task, () => {
        const path = resolve(workdir, String(task.path ?? ""));
        mkdirSync(dirname(path), { recursive: true });
        writeFileSync(path, String(task.content ?? ""));
        return path;
      });
    case "read_file":
      return immediate(task, () => readFileSync(resolve(workdir, String(task.path ?? "")), "utf8"));
    default:
      return immediate(task, () => {
        throw new Error(`unknown task type ${task.type} (known: ${TASK_TYPES.join(", ")})`);
      });
  }
}
