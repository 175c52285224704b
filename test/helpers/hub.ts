import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { waitFor } from "./engine.js";

const VMDOCKER = fileURLToPath(new URL("../../src/cli/vmdocker.js", import.meta.url));

/** The ports a test hub listens on. */
export interface HubPorts {
  apiPort: number;
  wsPort: number;
  dashboardPort: number;
}

/**
 * Starts `vmdocker hub` (the CLI, in its own process so a test can kill it) on `ports` with
 * `dataDir` and HUB_TOKEN `token`; resolves once /health answers (within 20 s). Its output goes to
 * `log`.
 */
export async function startHubProcess(
  ports: HubPorts,
  dataDir: string,
  token: string,
  log: (chunk: string) => void,
  extra: string[] = [],
): Promise<ChildProcess> {
  const hub = spawn(
    process.execPath,
    [
      VMDOCKER,
      "hub",
      "--ws-port",
      String(ports.wsPort),
      "--http-port",
      String(ports.apiPort),
      "--data-dir",
      dataDir,
      "--dashboard-port",
      String(ports.dashboardPort),
      ...extra,
    ],
    { env: { ...process.env, HUB_TOKEN: token }, stdio: ["ignore", "pipe", "pipe"] },
  );
  hub.stdout!.on("data", (c: Buffer) => log(c.toString()));
  hub.stderr!.on("data", (c: Buffer) => log(c.toString()));
  await waitFor(
    "the hub",
    () =>
      fetch(`http://127.0.0.1:${ports.apiPort}/health`).then(
        (r) => r.ok || undefined,
        () => undefined,
      ),
    20_000,
  );
  return hub;
}
