// The OpenClaw gateway as a supervised child of the runtime server: started with password auth on
// loopback, restarted when it dies after it has served (upstream leaves it dead), and called over
// plain HTTP. A gateway that dies before it ever served is not restarted: its reason is the spawn's.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OpenclawPaths } from "./openclaw-config.js";

const log = (line: string) => console.log(`${new Date().toISOString()} openclaw: ${line}`);

/**
 * How long one step of a spawn, a restore or a message may wait on OpenClaw (one CLI command, the
 * gateway's start) when nothing else ends it first: the node gives up on a `/vmm` call after 600 s
 * (runtime-call.ts), and the runtime answers with its own reason before that. Every wait ends sooner
 * on its own signal: the CLI exits, the gateway answers /health or exits.
 */
export const STEP_BUDGET_MS = 570_000;

/** What an `openclaw` CLI command printed (stdout and stderr, in order) and its exit code. */
export interface CliAnswer {
  code: number;
  out: string;
  /** Set when the command was killed for running longer than this (ms). */
  timedOutMs?: number;
}

export interface GatewayAnswer {
  status: number;
  json: Record<string, unknown> | undefined;
  text: string;
}

/** Terminal colours and the box drawing of OpenClaw's CLI panels. */
// eslint-disable-next-line no-control-regex -- terminal colour codes start with ESC
const DECORATION = /\x1b\[[0-9;]*m|[\u2500-\u257f\u25c6\u25c7]/g;

/**
 * Why a gateway stopped, in its own words, from the last lines it printed: its "Gateway failed to
 * start" line, else its last line that reports a failure, else its last line. Timestamps and CLI
 * decoration are dropped; at most 600 characters.
 */
export function gatewayExitReason(lines: string[]): string {
  const clean = lines
    .map((l) =>
      l
        .replace(DECORATION, "")
        .replace(/^\S+T\S+[+-]\d\d:\d\d /, "")
        .trim(),
    )
    .filter(Boolean)
    .reverse();
  const reason =
    clean.find((l) => l.startsWith("Gateway failed to start:")) ??
    clean.find((l) => /fail|invalid|error|requires|refus|cannot|unable|denied|missing/i.test(l)) ??
    clean[0] ??
    "it printed nothing";
  return reason.length > 600 ? `${reason.slice(0, 597)}...` : reason;
}

export class Gateway {
  private child?: ChildProcess;
  private stopping = false;
  private restarts = 0;
  /** The end of what the current gateway process printed (for its exit reason). */
  private tail = "";
  /** Gateway processes that have exited so far. */
  private exits = 0;
  /** The current process has answered /health; `served`: some process has. */
  private up = false;
  private served = false;
  /** Why the last gateway process exited before it answered /health. */
  private failure?: string;
  /** Set when a gateway that never served is not started again: why the start failed. */
  private fatal?: string;
  /**
   * A gateway that never served gets one more try, except after a refusal that a retry cannot
   * change: OpenClaw starves its own start-up deadlines on an overloaded host (its state lease
   * must come up within 5 s), but an invalid config stays invalid.
   */
  private startRetries = 1;
  /** A fresh secret per container start; only this server knows it. */
  private readonly password = randomBytes(24).toString("base64url");
  readonly base: string;

  constructor(
    private readonly paths: OpenclawPaths,
    private readonly bin = process.env.OPENCLAW_BIN ?? "openclaw",
    readonly port = Number(process.env.OPENCLAW_GATEWAY_PORT ?? 18789),
  ) {
    this.base = `http://127.0.0.1:${port}`;
  }

  /**
   * Runs an `openclaw` CLI command with the process's state, optionally feeding `input` on stdin.
   * Ends when the command exits, or kills it after `timeoutMs` (the answer then says so).
   */
  cli(args: string[], input?: string, timeoutMs = STEP_BUDGET_MS): Promise<CliAnswer> {
    const started = Date.now();
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [this.bin, ...args], {
        env: { ...process.env, OPENCLAW_GATEWAY_PASSWORD: this.password },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      let timedOut = false;
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (out += c.toString()));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, timeoutMs);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        const how = timedOut ? `killed after ${timeoutMs / 1000} s` : (signal ?? `code ${code}`);
        log(`openclaw ${args.slice(0, 3).join(" ")}: ${how} in ${seconds} s`);
        resolve({ code: code ?? 1, out, ...(timedOut ? { timedOutMs: timeoutMs } : {}) });
      });
      child.stdin.end(input ?? "");
    });
  }

  /**
   * Lock files of a gateway that is gone (a crash, or the one frozen into a checkpoint): OpenClaw
   * checks their owner's pid, and in a fresh container that pid may well be alive again.
   */
  private clearStaleLocks(): void {
    const uid = process.getuid?.() ?? 0;
    for (const dir of [
      join(this.paths.state, "tmp", `openclaw-${uid}`),
      join(tmpdir(), `openclaw-state-locks-${uid}`),
    ])
      rmSync(dir, { recursive: true, force: true });
  }

  start(): void {
    this.stopping = false;
    this.clearStaleLocks();
    const logFile = createWriteStream(join(this.paths.logs, "openclaw-gateway.log"), {
      flags: "a",
    });
    const child = spawn(
      process.execPath,
      [
        this.bin,
        "gateway",
        "--bind",
        "loopback",
        "--port",
        String(this.port),
        "--allow-unconfigured",
        "--auth",
        "password",
      ],
      {
        // The secret goes by env, not argv: argv is visible to every process in the container.
        env: { ...process.env, OPENCLAW_GATEWAY_PASSWORD: this.password },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.tail = "";
    this.up = false;
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.pipe(logFile, { end: false });
      stream.on("data", (chunk: Buffer) => {
        this.tail = (this.tail + chunk.toString()).slice(-32_768);
      });
    }
    this.child = child;
    // Operators (and tests) find the gateway here, to look at it or to kill it.
    writeFileSync(join(this.paths.logs, "gateway.pid"), `${child.pid}\n`);
    log(`gateway started (pid ${child.pid})`);
    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.exits++;
      if (this.stopping) return;
      const how = signal ?? `code ${code}`;
      if (!this.up)
        this.failure = `the OpenClaw gateway exited during start (${how}): ${gatewayExitReason(this.tail.split("\n"))}`;
      if (!this.served) {
        if (this.startRetries-- > 0 && !/config is invalid/i.test(this.failure ?? "")) {
          log(`${this.failure}; trying once more`);
          this.start();
        } else {
          this.fatal = this.failure;
          log(`${this.failure}; not restarting a gateway that never served`);
        }
        return;
      }
      // Supervision: back after a short pause, longer when it keeps dying.
      const delay = Math.min(10_000, 500 * 2 ** Math.min(this.restarts++, 5));
      log(`gateway exited (${how}); restarting in ${delay} ms`);
      setTimeout(() => this.start(), delay).unref();
    });
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  /**
   * Waits until `/health` answers 200, at most `timeoutMs`. Throws at once, with the gateway's own reason, when a
   * gateway process exits before it answers (the first one, or one started while this waits).
   */
  async ready(timeoutMs = STEP_BUDGET_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const exitsBefore = this.exits;
    for (;;) {
      if (this.fatal) throw new Error(this.fatal);
      if (this.served && this.failure && this.exits > exitsBefore) throw new Error(this.failure);
      const ok = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) {
        this.restarts = 0;
        this.up = this.served = true;
        this.failure = undefined;
        return;
      }
      if (Date.now() > deadline)
        throw new Error(
          `the OpenClaw gateway did not become healthy in ${Math.round(timeoutMs / 1000)} s (see ${join(this.paths.logs, "openclaw-gateway.log")})`,
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  async call(
    method: "GET" | "POST",
    path: string,
    body: unknown,
    timeoutMs: number,
    headers: Record<string, string> = {},
  ): Promise<GatewayAnswer> {
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.password}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        connection: "close",
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  }

  /** Stops the gateway and starts it again; resolves once it answers `/health` (see `ready`). */
  async restart(): Promise<void> {
    await this.stop();
    this.start();
    await this.ready();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
  }
}
