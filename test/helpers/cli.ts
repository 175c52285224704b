import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../src/cli/vmdocker.js", import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `vmdocker` CLI as a user would. */
export function vmdocker(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const res = spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

const AGENT_BIN = fileURLToPath(new URL("../../src/cli/docker-agent.js", import.meta.url));

/** Runs the built `docker-agent` CLI as a user would. */
export function dockerAgent(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const res = spawnSync(process.execPath, [AGENT_BIN, ...args], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 300_000,
  });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}
