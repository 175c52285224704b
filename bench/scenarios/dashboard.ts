import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Page } from "playwright-core";
import WebSocket from "ws";
import { HubClient } from "../../src/agents/hub-client.js";
import { SqliteHubStore } from "../../src/agents/hub/store.js";
import { startHub, type RunningHub } from "../../src/agents/hub/start.js";
import { ProfileCatalog } from "../../src/agents/profiles.js";
import { startDashboard, type RunningDashboard } from "../../src/dashboard/server.js";
import { packageRoot } from "../../src/package-root.js";
import { sseEvents } from "../../src/sys/sse.js";
import { CHROMIUM, launchChromium, signIn } from "../../test/helpers/browser.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, timedRow } from "../lib/stats.js";

const AGENTS = 100;
const TASKS = 10_000;

/** 100 agents (with a health report each) and 10,000 tasks over the last hour, in one transaction. */
function seed(db: string): void {
  new SqliteHubStore(db).close();
  const sql = new Database(db);
  const t = Date.now();
  const health = JSON.stringify({
    cpuPercent: 2.5,
    memoryBytes: 48 * 2 ** 20,
    memoryLimitBytes: 2 ** 30,
    diskUsedBytes: 12 * 2 ** 20,
    diskTotalBytes: 10 * 2 ** 30,
    uptimeSeconds: 3600,
  });
  sql.transaction(() => {
    const agent = sql.prepare(
      "INSERT INTO agents (name, profile, token_hash, created_at, last_seen, health) VALUES (?, 'builder', ?, ?, ?, ?)",
    );
    for (let a = 0; a < AGENTS; a++)
      agent.run(`agent-${String(a).padStart(3, "0")}`, "00", t - 7200_000, t - 5000, health);
    const task = sql.prepare(
      `INSERT INTO tasks (id, agent, spec, status, created_at, dispatched_at, started_at, finished_at, exit_code, output, error, deliveries, seq)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 1, ?)`,
    );
    for (let i = 0; i < TASKS; i++) {
      const id = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      const created = t - 3600_000 + Math.floor((i / TASKS) * 3500_000);
      const status =
        i >= TASKS - 50
          ? "queued"
          : i >= TASKS - 80
            ? "running"
            : i % 20 === 0
              ? "failed"
              : "succeeded";
      const finished = status === "succeeded" || status === "failed";
      const spec = JSON.stringify({ id, type: "exec", command: `make test-${i}` });
      task.run(
        id,
        `agent-${String(i % AGENTS).padStart(3, "0")}`,
        spec,
        status,
        created,
        created + 5,
        status === "queued" ? null : created + 10,
        finished ? created + 10 + (i % 97) * 13 : null,
        finished ? (status === "failed" ? 1 : 0) : null,
        finished ? `output of task ${i}\n` : "",
        i + 1,
      );
    }
  })();
  sql.close();
}

/** Resolves with the browser's clock (ms) when `selector`'s text becomes `want`. */
function whenText(page: Page, selector: string, want: string): Promise<number> {
  return page.evaluate(`new Promise((resolve) => {
    const check = () => {
      if (document.querySelector(${JSON.stringify(selector)})?.textContent === ${JSON.stringify(want)}) {
        obs.disconnect();
        resolve(Date.now());
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(document.body, { subtree: true, childList: true, characterData: true });
    check();
  })`) as Promise<number>;
}

/** Waits until the page has at least `n` elements matching `selector`. */
async function rows(page: Page, selector: string, n: number): Promise<void> {
  await page.waitForFunction(
    `document.querySelectorAll(${JSON.stringify(selector)}).length >= ${n}`,
  );
}

export const dashboardScenario: Scenario = {
  name: "dashboard",
  describe:
    "the dashboard in Chromium: an agent's state change until the page shows it (vs the hub's own event stream read by a script), and page loads with 100 agents and 10,000 tasks (vs the API calls alone)",
  async unavailable() {
    return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (npm test installs it)`;
  },
  async run(ctx, emit) {
    const dir = join(ctx.base, "dashboard");
    mkdirSync(dir, { recursive: true });
    const db = join(dir, "hub.db");
    seed(db);
    let hub: RunningHub | undefined;
    let dash: RunningDashboard | undefined;
    const browser = await launchChromium();
    try {
      hub = await startHub({
        wsPort: 0,
        httpPort: 0,
        wsHosts: ["127.0.0.1"],
        httpHost: "127.0.0.1",
        db,
        tokenFile: join(dir, "token"),
        log: () => {},
      });
      dash = await startDashboard({
        host: "127.0.0.1",
        port: 0,
        hubURL: hub.apiURL,
        token: hub.token,
        profiles: new ProfileCatalog([join(packageRoot(), "profiles")]),
        logDir: dir,
        redisPort: 1,
        vmCtl: [],
        log: () => {},
      });
      const page = await (
        await browser.newContext({
          viewport: { width: 1440, height: 960 },
          // The probes below are evaluated as strings, which the page's CSP forbids to the page.
          bypassCSP: true,
        })
      ).newPage();
      await signIn(page, dash.url, hub.token);
      const api = new HubClient(hub.apiURL, hub.token);
      const rounds = ctx.quick ? 3 : 10;

      // Page loads: the view until its rows are drawn, against the API calls it needs alone.
      const load = async (view: string, selector: string, n: number) => {
        await page.goto("about:blank");
        const t = now();
        await page.goto(`${dash!.url}/#/${view}`);
        await rows(page, selector, n);
        return now() - t;
      };
      emit(
        timedRow(
          "dashboard",
          `page load, Tasks view (${AGENTS} agents, ${TASKS.toLocaleString("en")} tasks: 50 rows + metrics)`,
          await interleaved(
            rounds,
            () => load("tasks", "[data-testid^=task-row-]", 50),
            async () => {
              const t = now();
              await Promise.all([api.listTasks({ limit: 50 }), api.metrics({})]);
              return now() - t;
            },
          ),
          "GET /tasks?limit=50 + /tasks/metrics on the hub",
        ),
      );
      emit(
        timedRow(
          "dashboard",
          `page load, Agents view (${AGENTS} agents: 25 rows)`,
          await interleaved(
            rounds,
            () => load("agents", "[data-testid^=agent-row-]", 25),
            async () => {
              const t = now();
              await api.agents();
              return now() - t;
            },
          ),
          "GET /agents on the hub",
        ),
      );

      // State changes: a real agent connection (the agent's WebSocket protocol) until the page
      // shows it, against a script reading the hub's /events for the same change.
      const name = "agent-000";
      const { token } = await api.rotateToken(name);
      await page.goto(`${dash.url}/#/agents`);
      await rows(page, `[data-testid=agent-row-${name}]`, 1);
      const events = new AbortController();
      const res = await fetch(`${hub.apiURL}/events`, {
        headers: { authorization: `Bearer ${hub.token}` },
        signal: events.signal,
      });
      const waiters: { type: string; resolve: (t: number) => void }[] = [];
      void (async () => {
        for await (const e of sseEvents(res.body!)) {
          const i = waiters.findIndex((w) => w.type === e.event);
          if (i >= 0) waiters.splice(i, 1)[0]!.resolve(Date.now());
        }
      })().catch(() => {});
      const seen = (type: string) =>
        new Promise<number>((resolve) => waiters.push({ type, resolve }));
      let ws: WebSocket | undefined;
      const change = async (viaPage: boolean) => {
        const connecting = !ws;
        const want = connecting ? "connected" : "disconnected";
        const selector = `[data-testid=agent-status-${name}]`;
        // The page first settles on the state before (an earlier round's change may still be on its way).
        await whenText(page, selector, connecting ? "disconnected" : "connected");
        const shown = viaPage
          ? whenText(page, selector, want)
          : seen(connecting ? "agent.connected" : "agent.disconnected");
        if (viaPage) await new Promise((r) => setTimeout(r, 50));
        let t0: number;
        if (connecting) {
          const sock = new WebSocket(`ws://127.0.0.1:${hub!.wsPort}`);
          ws = sock;
          await new Promise((r) => sock.once("open", r));
          t0 = Date.now();
          sock.send(JSON.stringify({ type: "hello", agentId: name, token, version: "bench" }));
        } else {
          t0 = Date.now();
          ws!.close();
          ws = undefined;
        }
        return (await shown) - t0;
      };
      emit(
        timedRow(
          "dashboard",
          "agent connects or disconnects until the page shows it",
          await interleaved(
            ctx.quick ? 6 : 20,
            () => change(true),
            () => change(false),
          ),
          "the hub's /events seen by a script",
        ),
      );
      ws?.close();
      events.abort();
    } finally {
      await browser.close();
      await dash?.close();
      await hub?.close();
    }
  },
};
