// Network namespaces for tests that create bridges, TAPs or NAT rules: the whole host side of the
// microVMs runs in `host`, and `world` stands in for the internet behind the host's uplink (a veth
// pair). Nothing leaves the two namespaces; both are deleted afterwards.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function sh(args: string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${r.stderr.trim()}`);
}

export const cliPath = (name: "vm-ctl" | "vm-setup") =>
  fileURLToPath(new URL(`../../src/cli/${name}.js`, import.meta.url));

export class TestNetwork {
  readonly host: string;
  readonly world: string;
  /** The world's address, as the host's uplink gateway. */
  readonly worldIp = "10.250.0.1";
  readonly uplinkIp = "10.250.0.2";

  private constructor(tag: string) {
    this.host = `vmt-h-${tag}`;
    this.world = `vmt-w-${tag}`;
  }

  /** Two namespaces joined by a veth pair; the host's default route goes to the world. */
  static create(): TestNetwork {
    const tag = randomBytes(3).toString("hex");
    const n = new TestNetwork(tag);
    sh(["netns", "add", n.host]);
    sh(["netns", "add", n.world]);
    const a = `vmt${tag}a`;
    const b = `vmt${tag}b`;
    sh(["link", "add", a, "netns", n.host, "type", "veth", "peer", "name", b, "netns", n.world]);
    for (const [ns, dev, ip] of [
      [n.host, a, n.uplinkIp],
      [n.world, b, n.worldIp],
    ] as const) {
      sh(["-n", ns, "link", "set", "lo", "up"]);
      sh(["-n", ns, "addr", "add", `${ip}/30`, "dev", dev]);
      sh(["-n", ns, "link", "set", dev, "up"]);
    }
    sh(["-n", n.host, "route", "add", "default", "via", n.worldIp]);
    return n;
  }

  /** Runs a program in the host namespace, synchronously. */
  exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): CliResult {
    const r = spawnSync("ip", ["netns", "exec", this.host, cmd, ...args], {
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: timeoutMs,
    });
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  /** Runs a program in a namespace without blocking the event loop. */
  run(
    cmd: string,
    args: string[],
    env: NodeJS.ProcessEnv = {},
    ns = this.host,
    timeoutMs = 3_600_000,
  ): Promise<CliResult> {
    return new Promise((resolve) => {
      const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (code) => {
        clearTimeout(t);
        resolve({ code: code ?? -1, stdout, stderr });
      });
    });
  }

  /** Starts a long-running program in the world namespace with an IPC channel. */
  spawnWorld(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): ChildProcess {
    return spawn("ip", ["netns", "exec", this.world, process.execPath, script, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
  }

  /** `curl` from the host namespace (where the proxies listen on 127.0.0.1). */
  curl(url: string, extra: string[] = []): CliResult {
    return this.exec("curl", ["-sS", "-m", "20", ...extra, url]);
  }

  /** Pids of every process in the host namespace. */
  pids(): number[] {
    const r = spawnSync("ip", ["netns", "pids", this.host], { encoding: "utf8" });
    return (r.stdout ?? "").split("\n").filter(Boolean).map(Number);
  }

  links(): string[] {
    const r = spawnSync("ip", ["-n", this.host, "-o", "link", "show"], { encoding: "utf8" });
    return (r.stdout ?? "")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(":")[1]!.trim().split("@")[0]!);
  }

  /** Kills what still runs in the namespaces and deletes them. */
  close(): void {
    for (const ns of [this.host, this.world]) {
      const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
      for (const pid of (r.stdout ?? "").split("\n").filter(Boolean))
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone
        }
      spawnSync("ip", ["netns", "del", ns]);
    }
  }
}
