import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ProfileCatalog } from "../../src/agents/profiles.js";
import { ensureProfileImage } from "../../src/agents/provision.js";
import { startHub, type RunningHub } from "../../src/agents/hub/start.js";
import { HymxClient } from "../../src/client/client.js";
import { startDashboard, type RunningDashboard } from "../../src/dashboard/server.js";
import { redisPort } from "../../src/host/redis.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { packageRoot } from "../../src/package-root.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { launchChromium, screenshotDir, signIn } from "../helpers/browser.js";
import type { CliRun } from "../helpers/cli.js";
import { CLIENT_KEY } from "../helpers/echo-vm.js";
import { testClient } from "../helpers/engine.js";
import { buildTestModule } from "../helpers/test-module.js";

// The dashboard in real Chromium against a real hub (agents in containers made by the
// docker-agent CLI), a real node (a process of the test runtime in a container) and its admin API.
const docker = testClient();
const base = mkdtempSync(join(tmpdir(), "vmd-dashboard-"));
const token = randomBytes(16).toString("hex");
const agentName = `dash-${randomBytes(3).toString("hex")}`;
const shots = screenshotDir();
const logLines: string[] = [];
let hub: RunningHub;
let node: RunningNode;
let dash: RunningDashboard;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let client: HymxClient;
let moduleId: string;
const requested: string[] = [];
// A microVM bot made as vm-setup allocates one (disk, seed, port; never booted, so stopped) in a
// state folder of this test's own, then stopped; the dashboard lists it through the real vm-ctl.
const botEnv = {
  STATE_ROOT: join(base, "vm-state"),
  FC_ROOT: join(base, "vm-fc"),
  SSH_KEY_PATH: join(base, "vm-ssh", "key"),
};
const vmCtlArgv = [
  "env",
  ...Object.entries(botEnv).map(([k, v]) => `${k}=${v}`),
  process.execPath,
  join(packageRoot(), "dist", "src", "cli", "vm-ctl.js"),
];

const AGENT_CLI = fileURLToPath(new URL("../../src/cli/docker-agent.js", import.meta.url));

/** docker-agent as a user runs it, without blocking this process (the hub lives here). */
function agentCli(args: string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [AGENT_CLI, "--hub", hub.apiURL, "--token", token, ...args],
      { timeout: 300_000 },
      (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        }),
    );
  });
}

/** Polls `fn` until it returns something truthy. */
async function until<T>(what: string, fn: () => Promise<T>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const text = (testid: string) => page.getByTestId(testid).first().textContent({ timeout: 500 });
const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`) });
/** Set once per page load: still there means nothing reloaded the page. */
const markPage = () => page.evaluate("window.mark = 1");
const stillSamePage = async () => (await page.evaluate("window.mark")) === 1;

before(async () => {
  const profiles = new ProfileCatalog([join(packageRoot(), "profiles")]);
  const caBundle = process.env.NODE_EXTRA_CA_CERTS;
  const [gateway, , mod] = await Promise.all([
    docker.networkGateway("bridge"),
    // The profile's image first, so the test times the page, not an image build.
    ensureProfileImage(
      docker,
      profiles.get("builder"),
      { ...(caBundle ? { caBundle } : {}), logFile: join(base, "logs", "provision.log") },
      silentProgress.task(""),
    ),
    buildTestModule(docker, base),
  ]);
  moduleId = mod.id;
  hub = await startHub({
    wsPort: 0,
    httpPort: 0,
    wsHosts: ["127.0.0.1", ...(gateway ? [gateway] : [])],
    httpHost: "127.0.0.1",
    db: join(base, "hub", "hub.db"),
    tokenFile: join(base, "hub", "token"),
    token,
    healthIntervalMs: 1000,
    log: (l) => logLines.push(l),
  });
  node = await startNode(
    loadConfig(undefined, {
      VMDOCKER_PORT: ":0",
      VMDOCKER_ADMIN_PORT: "127.0.0.1:0",
      VMDOCKER_WARM_POOL: "0",
    }),
    { baseDir: base, vms: new VmRegistry(), log: () => {}, docker },
  );
  client = new HymxClient({ url: node.url, signer: new EthereumSigner(CLIENT_KEY) });
  const bot = spawnSync(
    process.execPath,
    [
      fileURLToPath(new URL("../helpers/microvm-fixture.js", import.meta.url)),
      "create",
      "dash-bot",
      "user",
    ],
    { env: { ...process.env, ...botEnv }, encoding: "utf8", timeout: 300_000 },
  );
  assert.equal(bot.status, 0, `creating the microVM bot: ${bot.stderr}`);
  const stopped = spawnSync(vmCtlArgv[0]!, [...vmCtlArgv.slice(1), "stop", "dash-bot"], {
    encoding: "utf8",
  });
  assert.equal(stopped.status, 0, stopped.stderr);
  dash = await startDashboard({
    vmCtl: vmCtlArgv,
    host: "127.0.0.1",
    port: 0,
    hubURL: hub.apiURL,
    token,
    docker,
    profiles,
    logDir: join(base, "logs"),
    node: { url: node.url, adminUrl: node.adminUrl, adminToken: node.adminToken },
    redisPort: redisPort(),
    log: (l) => logLines.push(l),
  });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1440, height: 960 } });
  page = await context.newPage();
  page.on("request", (r) => requested.push(r.url()));
});

after(async () => {
  await agentCli(["destroy", agentName, "--volume"]);
  spawnSync(vmCtlArgv[0]!, [...vmCtlArgv.slice(1), "destroy", "dash-bot", "--force"]);
  await browser?.close();
  await dash?.close();
  await node?.close();
  await hub?.close();
});

test("login: a wrong token is refused and logged; the right one gives an HttpOnly, SameSite=Strict session and never puts the token in a URL", async () => {
  await page.goto(`${dash.url}/`);
  assert.ok(
    page.url().endsWith("/login"),
    `an anonymous visit goes to the login form: ${page.url()}`,
  );
  await shot("login");
  await page.fill("#token", "not-the-token");
  const [refused] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith("/login") && r.request().method() === "POST"),
    page.click("button[type=submit]"),
  ]);
  assert.equal(refused.status(), 401);
  assert.match((await page.textContent(".login-error")) ?? "", /Wrong token/);
  assert.ok(
    logLines.some((l) => /refused a login from 127\.0\.0\.1: wrong token/.test(l)),
    logLines.join("\n"),
  );
  assert.equal((await fetch(`${dash.url}/api/agents`)).status, 401, "the API needs a session");

  await signIn(page, dash.url, token);
  await page.getByTestId("checks").waitFor();
  const session = (await context.cookies()).find((c) => c.name === "vmd_session");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.notEqual(session.value, token);
  const cross = await context.request.post(`${dash.url}/api/agents/${agentName}/stop`);
  assert.equal(cross.status(), 403, "a change without the page's request header is refused");
  assert.ok(
    requested.every((u) => !u.includes(token)),
    "the token is in no URL the browser asked for",
  );
});

test("an agent created with docker-agent appears without a reload; its memory chart fills from health reports; the exec console streams output and shows the exit code", async () => {
  await page.goto(`${dash.url}/#/agents`);
  // The engine is shared (other tests, other hubs): their agent containers are listed too, so
  // the page may not be empty. Once the list has loaded (its count shows), this agent is not in it.
  await until("the agent list", async () =>
    /^all \d+$/.test((await text("filter-all"))?.trim() ?? ""),
  );
  assert.equal(await page.getByTestId(`agent-row-${agentName}`).count(), 0);
  await markPage();
  const create = agentCli(["create", agentName, "--profile", "builder", "--json"]);
  await page.getByTestId(`agent-row-${agentName}`).waitFor({ timeout: 60_000 });
  const created = await create;
  assert.equal(created.code, 0, created.stderr);
  await until("connected", async () => (await text(`agent-status-${agentName}`)) === "connected");
  assert.ok(await stillSamePage(), "the row came live, not through a reload");

  await page.getByTestId(`agent-row-${agentName}`).click();
  const points = await until(
    "memory points",
    async () => {
      const n = Number(
        await page.getByTestId("chart-agent-memory").getAttribute("data-points", { timeout: 500 }),
      );
      return n >= 3 ? n : 0;
    },
    30_000,
  );
  assert.ok(points >= 3, `${points} points`);

  await page.getByTestId("exec-input").fill("echo from-console; echo oops >&2; exit 3");
  await page.getByTestId("exec-run").click();
  await until("the exit code", async () => (await text("task-exit-code")) === "exit code 3");
  const out = (await text("task-output-text")) ?? "";
  assert.match(out, /from-console/);
  assert.match(out, /oops/);
  assert.equal(await text("task-final-status"), "failed");
  await shot("agents");
});

test("a task's output and final status appear live on the Tasks page, before and after it ends", async () => {
  await page.goto(`${dash.url}/#/tasks`);
  await page.getByTestId("tasks-table").waitFor();
  await markPage();
  const run = agentCli([
    "exec",
    agentName,
    "for i in 1 2 3 4; do echo line$i; sleep 0.5; done; exit 2",
  ]);
  const row = page.locator("[data-testid^=task-row-]", { hasText: "line$i" }).first();
  await row.waitFor({ timeout: 20_000 });
  await row.click();
  await until("the first line", async () => /line1/.test((await text("task-output-text")) ?? ""));
  assert.equal(
    await page.getByTestId("task-final-status").count(),
    0,
    "output shows while the task still runs",
  );
  await until("the final status", async () => (await text("task-final-status")) === "failed");
  assert.equal(await text("task-exit-code"), "exit code 2");
  assert.match((await text("task-output-text")) ?? "", /line1\s*line2\s*line3\s*line4/);
  assert.equal((await run).code, 2);
  const id = ((await row.getAttribute("data-testid")) ?? "").replace("task-row-", "");
  await until("the row's status", async () => (await text(`task-status-${id}`)) === "failed");
  assert.ok(await stillSamePage());
  assert.match((await text("success-ratio")) ?? "", /%$/);
  await shot("tasks");
});

test("a dropped event stream reconnects and catches up on what happened meanwhile", async () => {
  await page.goto(`${dash.url}/#/tasks?agent=${agentName}`);
  await page.getByTestId("tasks-table").waitFor();
  await until("live", async () => (await text("live")) === "● live");
  await markPage();
  // The network goes away: no new connection can be made, and the open stream is cut.
  await context.setOffline(true);
  try {
    dash.app.server.closeAllConnections();
    await until("the stream to drop", async () => /reconnecting/.test((await text("live")) ?? ""));
    const done = await agentCli(["exec", agentName, "echo caught-up-$((20+22))"]);
    assert.equal(done.stdout, "caught-up-42\n");
  } finally {
    await context.setOffline(false);
  }
  const row = page.locator("[data-testid^=task-row-]", { hasText: "caught-up" }).first();
  await row.waitFor({ timeout: 15_000 });
  await until("live again", async () => (await text("live")) === "● live");
  assert.match((await row.textContent()) ?? "", /succeeded/);
  assert.ok(await stillSamePage(), "caught up without a reload");
});

test("stopping an agent with docker-agent changes its row; Start in the dashboard brings it back", async () => {
  await page.goto(`${dash.url}/#/agents`);
  await page.getByTestId(`agent-row-${agentName}`).waitFor();
  await markPage();
  const stopped = await agentCli(["stop", agentName]);
  assert.equal(stopped.code, 0, stopped.stderr);
  await until("stopped", async () => (await text(`agent-status-${agentName}`)) === "stopped");
  await page.getByTestId(`start-${agentName}`).click();
  await until(
    "connected again",
    async () => (await text(`agent-status-${agentName}`)) === "connected",
    90_000,
  );
  assert.ok(await stillSamePage());
});

test("a process spawned through the node appears with its results; stop and resume go through the admin API", async () => {
  await page.goto(`${dash.url}/#/processes`);
  await page.getByTestId("processes-table").waitFor();
  await markPage();
  const pid = await client.spawn({ module: moduleId });
  await page.getByTestId(`process-row-${pid}`).waitFor({ timeout: 60_000 });
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  const ping = await client.message({ pid, action: "Ping" });
  assert.equal((await client.waitResult(pid, ping, 60_000)).Data, "Pong");
  await until("nonce 1", async () => (await text(`process-nonce-${pid}`)) === "1");
  const row = (await page.getByTestId(`process-row-${pid}`).textContent()) ?? "";
  assert.match(row, /vmdocker\/runtime-test/);
  assert.match(row, /docker/);
  assert.match(row, /workspace/);
  await page.getByTestId(`process-row-${pid}`).click();
  await until("the Pong result", async () =>
    /Pong/.test((await page.getByTestId("result-1").textContent({ timeout: 500 })) ?? ""),
  );
  await shot("processes");
  await page.getByTestId(`process-stop-${pid}`).click();
  await until("stopped", async () => (await text(`process-state-${pid}`)) === "stopped", 120_000);
  await page.getByTestId(`process-resume-${pid}`).click();
  await until("running", async () => (await text(`process-state-${pid}`)) === "running", 120_000);
  assert.ok(await stillSamePage());
});

test("overview shows the health of engine, node and hub with the counts; bots as vm-ctl lists them", async () => {
  await page.goto(`${dash.url}/#/overview`);
  await until("the checks", async () => /ok/.test((await text("check-node")) ?? ""));
  assert.match((await text("check-engine")) ?? "", /ok/);
  assert.match((await text("check-hub")) ?? "", /ok/);
  assert.match((await text("tile-agents")) ?? "", /1 \/ 1/);
  assert.match((await text("tile-processes")) ?? "", /\d+ \/ \d+/);
  await until(
    "host samples",
    async () =>
      Number(
        await page.getByTestId("chart-host-cpu").getAttribute("data-points", { timeout: 500 }),
      ) >= 2,
  );
  await shot("overview");
  await page.goto(`${dash.url}/#/bots`);
  const row = page.getByTestId("bot-dash-bot");
  await row.waitFor();
  const cells = (await row.locator("td").allTextContents()).map((c) => c.trim());
  assert.deepEqual(cells.slice(0, 5), ["dash-bot", "stopped", "down", "qemu (tcg)", "user"]);
  assert.match(cells[5]!, /^127\.0\.0\.1:\d+$/);
  assert.equal(cells[6], "1 / 192 MiB");
  await shot("bots");
});
