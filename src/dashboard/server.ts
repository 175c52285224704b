import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import { VmdError } from "../errors.js";
import { HubClient } from "../agents/hub-client.js";
import { jsonErrorHandler } from "../agents/hub/http-errors.js";
import { statusOf } from "../error-codes.js";
import { AgentManager } from "../agents/manager.js";
import type { ProfileCatalog } from "../agents/profiles.js";
import { packageRoot } from "../package-root.js";
import { silentProgress } from "../progress.js";
import type { DockerClient } from "../runtime/docker/client.js";
import { streamLog } from "../sys/sse.js";
import { registerApi } from "./api.js";
import { Sessions } from "./auth.js";
import { Live, type NodeEndpoints } from "./live.js";

export const DEFAULT_DASHBOARD_PORT = 9092;

/** Where the dashboard runs and what it shows. */
export interface DashboardOptions {
  /** Default 127.0.0.1. */
  host: string;
  /** Default 9092; 0 picks a free port. */
  port: number;
  /** The hub's HTTP API. */
  hubURL: string;
  /** The hub's API token: also what a person signs in with. */
  token: string;
  /** Where that token is kept (its file, or HUB_TOKEN), for the login page (default `~/.vmdocker/hub/token`). */
  tokenFile?: string | undefined;
  /** The engine, for agent containers (status, start, stop, destroy, snapshot). */
  docker?: DockerClient | undefined;
  profiles: ProfileCatalog;
  /** Where failed profile builds leave their output. */
  logDir: string;
  /** The node (public and admin API); can be set later with `setNode`. */
  node?: NodeEndpoints | undefined;
  redisPort: number;
  /** How to run vm-ctl; default `node <package>/dist/src/cli/vm-ctl.js`. */
  vmCtl?: string[];
  /** The built front-end; default `<package>/dist/dashboard`. */
  assetsDir?: string;
  log: (line: string) => void;
}

export interface RunningDashboard {
  url: string;
  app: FastifyInstance;
  live: Live;
  /** Points the dashboard at a node (e.g. once `vmdocker up` has started it). */
  setNode(node: NodeEndpoints): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".map": "application/json",
  ".svg": "image/svg+xml",
};

/** The built front-end, read once: name → bytes, type and ETag. */
function loadAssets(dir: string): Map<string, { body: Buffer; type: string; etag: string }> {
  const out = new Map<string, { body: Buffer; type: string; etag: string }>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(dir, name));
    const etag = `"${createHash("sha256").update(body).digest("hex").slice(0, 16)}"`;
    out.set(name, { body, type, etag });
  }
  return out;
}

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/**
 * Starts the dashboard: a web page for agents, tasks, node processes and microVM bots, live over
 * server-sent events, behind a login with the hub's token. It reads only public APIs (hub, node,
 * admin, engine) and serves a production build of the front-end from `dist/dashboard`.
 * @throws VmdError err_port_in_use when the port is taken.
 */
export async function startDashboard(o: DashboardOptions): Promise<RunningDashboard> {
  const root = packageRoot();
  const assets = loadAssets(o.assetsDir ?? join(root, "dist", "dashboard"));
  const hub = new HubClient(o.hubURL, o.token);
  const live = new Live({
    hubURL: o.hubURL,
    token: o.token,
    docker: o.docker,
    redisPort: o.redisPort,
    vmCtl: o.vmCtl ?? [process.execPath, join(root, "dist", "src", "cli", "vm-ctl.js")],
    log: o.log,
  });
  live.node = o.node;
  const manager = o.docker
    ? new AgentManager({
        docker: o.docker,
        hub,
        profiles: o.profiles,
        progress: silentProgress,
        logDir: o.logDir,
      })
    : undefined;
  const sessions = new Sessions(o.token, o.log, Date.now, o.tokenFile);
  const sweep = setInterval(() => sessions.sweep(), 60_000);
  sweep.unref();
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    trustProxy: false,
    forceCloseConnections: true,
  });
  app.addHook("onSend", async (_req, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  app.setErrorHandler(
    // The dashboard is a gateway: a hub or node refusing its token is a bad gateway, not the user's 401.
    jsonErrorHandler((code) => (code === "err_unauthorized" ? 502 : statusOf(code))),
  );
  sessions.register(app);

  const page = (name: string) => assets.get(name);
  app.get("/", async (req, reply) => {
    if (!sessions.valid(req)) return reply.redirect("/login", 303);
    const index = page("index.html");
    if (!index)
      return reply
        .code(503)
        .type("text/plain")
        .send("the dashboard is not built: run `npm run build`\n");
    return reply.type(index.type).header("cache-control", "no-store").send(index.body);
  });
  app.get<{ Params: { name: string } }>("/assets/:name", async (req, reply) => {
    const a = page(req.params.name);
    if (!a || req.params.name === "index.html")
      return reply.code(404).send({ error: "err_not_found" });
    if (req.headers["if-none-match"] === a.etag) return reply.code(304).send();
    return reply
      .type(a.type)
      .header("etag", a.etag)
      .header("cache-control", "no-cache")
      .send(a.body);
  });

  await app.register(async (api) => {
    api.addHook("onRequest", sessions.guard());
    api.get("/api/session", async () => ({ ok: true, node: !!live.node }));
    api.get("/api/events", (req, reply) => {
      reply.hijack();
      streamLog(req.raw, reply.raw, live.events);
      // Signing out (or the session expiring) ends the stream: the browser then finds no session.
      const unbind = sessions.onEnd(req, () => reply.raw.end());
      req.raw.on("close", unbind);
    });
    registerApi(api, { hub, manager, docker: o.docker, live, log: o.log });
  });

  try {
    await app.listen({ host: o.host, port: o.port });
  } catch (err) {
    clearInterval(sweep);
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE")
      throw new VmdError(
        "err_port_in_use",
        `the dashboard's port ${o.host}:${o.port} is in use`,
        "stop what uses it, or pass --dashboard-port (or --no-dashboard)",
      );
    throw err;
  }
  const a = app.server.address();
  const url = `http://${o.host}:${typeof a === "object" && a ? a.port : o.port}`;
  const seed = await hub.agents().catch(() => []);
  live.start(seed);
  if (!assets.size) o.log(`warning: the dashboard is not built (run npm run build)`);
  return {
    url,
    app,
    live,
    setNode(node) {
      live.node = node;
    },
    async close() {
      clearInterval(sweep);
      live.close();
      live.events.end();
      await app.close();
    },
  };
}
