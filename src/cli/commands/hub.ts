import { join } from "node:path";
import type { Command } from "commander";
import { VmdError } from "../../errors.js";
import {
  DEFAULT_HTTP_PORT,
  DEFAULT_WS_PORT,
  startHub,
  type RunningHub,
} from "../../agents/hub/start.js";
import { ProfileCatalog } from "../../agents/profiles.js";
import {
  DEFAULT_DASHBOARD_PORT,
  startDashboard,
  type RunningDashboard,
} from "../../dashboard/server.js";
import { redisPort } from "../../host/redis.js";
import { packageRoot } from "../../package-root.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import type { StatePaths } from "../../host/paths.js";
import type { CliContext } from "../context.js";

export interface HubFlags {
  wsPort: string;
  httpPort: string;
  listenAll?: boolean;
  dataDir?: string;
  redisUrl?: string;
  /** false with --no-dashboard. */
  dashboard?: boolean;
  dashboardPort?: string;
  nodeUrl?: string;
  adminUrl?: string;
}

/** The hub, with its dashboard when one was started. */
export type RunningHubWithDashboard = RunningHub & { dashboard?: RunningDashboard };

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new VmdError("err_bad_flag", `${flag} ${value} is not a port`, `pass ${flag} 1-65535`);
  return n;
}

/**
 * Starts the hub. Agents reach it as host.docker.internal, which is the Docker bridge's gateway:
 * the WebSocket listens there and on loopback (or everywhere with --listen-all); the API on
 * loopback only (everywhere with --listen-all).
 */
export async function launchHub(
  flags: HubFlags,
  paths: StatePaths,
  docker: DockerClient | undefined,
  log: (line: string) => void,
): Promise<RunningHubWithDashboard> {
  const wsHosts = flags.listenAll ? ["0.0.0.0"] : ["127.0.0.1"];
  if (!flags.listenAll && docker) {
    const gateway = await docker.networkGateway("bridge").catch(() => undefined);
    if (gateway) wsHosts.push(gateway);
    else log("warning: no Docker bridge found: agents in containers cannot reach this hub");
  }
  const dashboardPort = port(
    flags.dashboardPort ?? String(DEFAULT_DASHBOARD_PORT),
    "--dashboard-port",
  );
  const tokenFile = flags.dataDir ? join(flags.dataDir, "token") : paths.hub.tokenFile;
  // The folders docker-agent reads profiles from, so the API registers agents under the same names.
  const profiles = new ProfileCatalog([
    join(paths.root, "profiles"),
    join(packageRoot(), "profiles"),
  ]);
  const hub = await startHub({
    wsPort: port(flags.wsPort, "--ws-port"),
    httpPort: port(flags.httpPort, "--http-port"),
    wsHosts,
    httpHost: flags.listenAll ? "0.0.0.0" : "127.0.0.1",
    db: flags.dataDir ? join(flags.dataDir, "hub.db") : paths.hub.db,
    ...(flags.redisUrl ? { redisURL: flags.redisUrl } : {}),
    tokenFile,
    ...(process.env.HUB_TOKEN ? { token: process.env.HUB_TOKEN } : {}),
    profiles,
    log,
  });
  if (flags.dashboard === false) return hub;
  try {
    const dashboard = await startDashboard({
      host: flags.listenAll ? "0.0.0.0" : "127.0.0.1",
      port: dashboardPort,
      hubURL: hub.apiURL,
      token: hub.token,
      tokenFile: process.env.HUB_TOKEN ? "HUB_TOKEN" : tokenFile,
      docker,
      profiles,
      logDir: join(paths.root, "logs"),
      redisPort: redisPort(),
      ...(flags.nodeUrl
        ? {
            node: {
              url: flags.nodeUrl.replace(/\/+$/, ""),
              adminUrl: flags.adminUrl?.replace(/\/+$/, ""),
              adminToken: process.env.VMDOCKER_ADMIN_TOKEN,
            },
          }
        : {}),
      log,
    });
    log(`dashboard on ${dashboard.url} (sign in with the hub's token)`);
    if (flags.listenAll)
      log(
        "warning: the dashboard is plain HTTP on every address: put it behind TLS before signing in from another machine",
      );
    return {
      ...hub,
      dashboard,
      async close() {
        await dashboard.close();
        await hub.close();
      },
    };
  } catch (err) {
    await hub.close();
    throw err;
  }
}

export function hubOptions(cmd: Command): Command {
  return cmd
    .option(
      "--ws-port <port>",
      "WebSocket port for agents (env HUB_WS_PORT)",
      process.env.HUB_WS_PORT ?? String(DEFAULT_WS_PORT),
    )
    .option(
      "--http-port <port>",
      "HTTP API port (env HUB_HTTP_PORT)",
      process.env.HUB_HTTP_PORT ?? String(DEFAULT_HTTP_PORT),
    )
    .option("--listen-all", "listen on every address, not only loopback and the Docker bridge")
    .option(
      "--dashboard-port <port>",
      "the dashboard's port (env HUB_DASHBOARD_PORT)",
      process.env.HUB_DASHBOARD_PORT ?? String(DEFAULT_DASHBOARD_PORT),
    )
    .option("--no-dashboard", "do not serve the dashboard")
    .option("--data-dir <dir>", "where the hub keeps its store and token (default <state dir>/hub)")
    .option(
      "--redis-url <url>",
      "keep agents and tasks in Redis instead of SQLite (env HUB_REDIS_URL)",
      process.env.HUB_REDIS_URL,
    );
}

/** Which node the dashboard shows (`vmdocker hub`; `vmdocker up` knows its own node). */
function nodeOptions(cmd: Command): Command {
  return cmd
    .option(
      "--node-url <url>",
      "the node the dashboard shows (env VMDOCKER_NODE_URL)",
      process.env.VMDOCKER_NODE_URL,
    )
    .option(
      "--admin-url <url>",
      "the node's admin API, for stop/resume in the dashboard (token in env VMDOCKER_ADMIN_TOKEN)",
      process.env.VMDOCKER_ADMIN_URL,
    );
}

export function registerHub(program: Command, ctx: () => CliContext): void {
  nodeOptions(
    hubOptions(
      program
        .command("hub")
        .description(
          "Run the agent hub (WebSocket for agents, HTTP API for docker-agent) in the foreground",
        ),
    ),
  )
    .addHelpText(
      "after",
      "\nExample:\n  vmdocker hub                      # ws 9090 (loopback + docker bridge), API 127.0.0.1:9091, dashboard 127.0.0.1:9092\n  curl http://127.0.0.1:9091/health\n  vmdocker hub --node-url http://127.0.0.1:8080 --admin-url http://127.0.0.1:8081",
    )
    .action(async (flags: HubFlags) => {
      const c = ctx();
      const docker = c.client();
      const engineUp = await docker.ping().then(
        () => true,
        () => false,
      );
      const log = (l: string) => console.log(`${new Date().toISOString()} ${l}`);
      if (!engineUp)
        log(
          `warning: no Docker engine answers at ${docker.address.display}: agents in containers cannot be reached`,
        );
      // The dashboard keeps the client either way: its overview shows the engine down at this address.
      const hub = await launchHub(flags, c.paths, docker, log);
      await new Promise<void>((resolve) => {
        const stop = () => {
          log("stopping the hub");
          void hub.close().then(resolve);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
