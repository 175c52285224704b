import { spawn } from "node:child_process";
import { VmdError } from "../errors.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Fed to stdin: a string, or a stream piped in (stdin is closed when it ends). */
  input?: string | NodeJS.ReadableStream;
  /** Called with every complete output line (stdout and stderr), for progress displays. */
  onLine?: (line: string) => void;
  timeoutMs?: number;
}

/** Runs a program (no shell) and collects its output. A missing program is code 127, not a throw. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      timeout: opts.timeoutMs,
    });
    let stdout = "";
    let stderr = "";
    const lineSplitter = () => {
      let pending = "";
      return (chunk: string) => {
        if (!opts.onLine) return;
        pending += chunk;
        const lines = pending.split("\n");
        pending = lines.pop() ?? "";
        for (const line of lines) opts.onLine(line);
      };
    };
    const outLines = lineSplitter();
    const errLines = lineSplitter();
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
      outLines(c);
    });
    child.stderr!.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      errLines(c);
    });
    child.stdin?.on("error", () => {});
    if (typeof opts.input === "string") child.stdin?.end(opts.input);
    else if (opts.input) opts.input.pipe(child.stdin!);
    child.on("error", (err: NodeJS.ErrnoException) => {
      resolvePromise({ code: err.code === "ENOENT" ? 127 : 1, stdout, stderr: err.message });
    });
    child.on("close", (code, signal) => {
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Runs a program and throws a VmdError carrying the tail of its output when it fails. */
export async function runOrThrow(
  cmd: string,
  args: string[],
  what: string,
  hint: string,
  opts: RunOptions = {},
): Promise<RunResult> {
  const res = await run(cmd, args, opts);
  if (res.code !== 0) {
    const tail = (res.stderr || res.stdout).trim().split("\n").slice(-3).join(" | ");
    throw new VmdError("err_host_command", `${what} failed (exit ${res.code}): ${tail}`, hint);
  }
  return res;
}

export async function commandExists(cmd: string): Promise<boolean> {
  const res = await run("sh", ["-c", `command -v ${cmd}`]);
  return res.code === 0;
}
