import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const bin = (name: string) => fileURLToPath(new URL(`../../src/cli/${name}.js`, import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(file: string, args: string[], env: NodeJS.ProcessEnv, timeout: number): CliRun {
  const res = spawnSync(process.execPath, [file, ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout,
  });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** Runs the built `vmdocker` CLI as a user would. */
export function vmdocker(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  return runCli(bin("vmdocker"), args, env, 120_000);
}

/**
 * Runs the built `vmdocker` CLI without blocking this process (for a node that runs in the test
 * process and must keep serving while the CLI waits on it).
 */
export function vmdockerAsync(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin("vmdocker"), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs the built `docker-agent` CLI as a user would. */
export function dockerAgent(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  return runCli(bin("docker-agent"), args, env, 300_000);
}
