// The OpenClaw gateway as a supervised child of the runtime server: started with password auth on
// loopback, restarted when it dies (upstream leaves it dead), and called over plain HTTP.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OpenclawPaths } from "./openclaw-config.js";

const log = (line: string) => console.log(`${new Date().toISOString()} openclaw: ${line}`);

export interface GatewayAnswer {
  status: number;
  json: Record<string, unknown> | undefined;
  text: string;
}

export class Gateway {
  private child?: ChildProcess;
  private stopping = false;
  private restarts = 0;
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

  /** Runs an `openclaw` CLI command with the process's state, optionally feeding `input` on stdin. */
  cli(args: string[], input?: string, timeoutMs = 120_000): Promise<{ code: number; out: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [this.bin, ...args], {
        env: { ...process.env, OPENCLAW_GATEWAY_PASSWORD: this.password },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (c: Buffer) => (out += c.toString()));
      child.stderr.on("data", (c: Buffer) => (out += c.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, out });
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
    child.stdout!.pipe(logFile, { end: false });
    child.stderr!.pipe(logFile, { end: false });
    this.child = child;
    // Operators (and tests) find the gateway here, to look at it or to kill it.
    writeFileSync(join(this.paths.logs, "gateway.pid"), `${child.pid}\n`);
    log(`gateway started (pid ${child.pid})`);
    child.on("exit", (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.stopping) return;
      // Supervision: back after a short pause, longer when it keeps dying.
      const delay = Math.min(10_000, 500 * 2 ** Math.min(this.restarts++, 5));
      log(`gateway exited (${signal ?? code}); restarting in ${delay} ms`);
      setTimeout(() => this.start(), delay).unref();
    });
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  /** Waits until `/health` answers 200. */
  async ready(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await fetch(`${this.base}/health`, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) {
        this.restarts = 0;
        return;
      }
      if (Date.now() > deadline)
        throw new Error(
          `the OpenClaw gateway did not become healthy in ${timeoutMs / 1000} s (see ${join(this.paths.logs, "openclaw-gateway.log")})`,
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
