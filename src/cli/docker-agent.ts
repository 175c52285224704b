#!/usr/bin/env node
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, CommanderError, Option } from "commander";
import { HubClient } from "../agents/hub-client.js";
import { AgentManager, taskExitCode } from "../agents/manager.js";
import { ProfileCatalog } from "../agents/profiles.js";
import { VmdError } from "../errors.js";
import { packageRoot } from "../package-root.js";
import { cliContext } from "./context.js";
import { formatError, printJson, table } from "./output.js";
import { exitQuietlyOnClosedPipe } from "./pipe.js";
import { terminalProgress } from "./progress.js";

exitQuietlyOnClosedPipe();

/**
 * docker-agent's own failures (unknown agent, hub down, bad profile or flag) exit 125, as Docker's
 * do, so every other code (1–124, 126–255) is the command's own.
 */
const PRODUCT_ERROR = 125;

const program = new Command("docker-agent")
  .description(
    "Named agents in containers, driven through the hub (vmdocker's Docker Agent System)",
  )
  .option(
    "--hub <url>",
    "the hub's HTTP API (env HUB_API)",
    process.env.HUB_API ?? "http://127.0.0.1:9091",
  )
  .option(
    "--token <token>",
    "the hub's API token (env HUB_TOKEN; default: the token file the hub wrote)",
  )
  .option("--state-dir <dir>", "vmdocker's state folder (env VMDOCKER_HOME, default ~/.vmdocker)")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride()
  .addHelpText(
    "after",
    `
Example:
  docker-agent create my-builder --profile builder
  docker-agent exec my-builder "node --version"
  docker-agent task my-builder '{"type":"exec","command":"pwd","timeoutMs":5000}'
  docker-agent logs my-builder --tail 20
  docker-agent destroy my-builder --volume`,
  );

/**
 * The agent manager and profiles for a verb. `hub: false` for verbs that only read the engine or
 * the profile files (profiles, logs, snapshots): they need no hub token, and their client carries
 * none, so a call to the hub from them would be refused (401), never let through.
 */
function setup({ hub = true }: { hub?: boolean } = {}) {
  const g = program.opts<{ hub: string; token?: string; stateDir?: string }>();
  const ctx = cliContext(g.stateDir);
  let token = g.token ?? process.env.HUB_TOKEN;
  if (!hub) token = "";
  else if (!token && existsSync(ctx.paths.hub.tokenFile))
    token = readFileSync(ctx.paths.hub.tokenFile, "utf8").trim();
  if (hub && !token)
    throw new VmdError(
      "err_no_hub_token",
      `no hub token (${ctx.paths.hub.tokenFile} does not exist)`,
      "start the hub once (`vmdocker hub`), or pass --token / HUB_TOKEN",
    );
  const profiles = new ProfileCatalog([
    join(ctx.paths.root, "profiles"),
    join(packageRoot(), "profiles"),
  ]);
  const manager = new AgentManager({
    docker: ctx.client(),
    hub: new HubClient(g.hub.replace(/\/+$/, ""), token ?? ""),
    profiles,
    progress: terminalProgress(),
    logDir: join(ctx.paths.root, "logs"),
  });
  return { manager, profiles };
}

const mb = (b: number | null | undefined) => (b ? `${(b / 2 ** 20).toFixed(0)} MB` : "-");
const write = (stream: "stdout" | "stderr", data: string) =>
  (stream === "stdout" ? process.stdout : process.stderr).write(data);

function positiveInt(flag: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0)
      throw new VmdError("err_bad_flag", `${flag} ${v} is not a whole number`, `pass ${flag} 10`);
    return n;
  };
}

program
  .command("create <name>")
  .description(
    "Build the profile's image (cached), register with the hub, start, wait until connected",
  )
  .option(
    "-p, --profile <profile>",
    "profile from profiles/ (builder, tester, deployer, researcher, docker-host)",
    "builder",
  )
  .addOption(
    new Option(
      "--ca-bundle <file>",
      "PEM bundle the agent trusts (TLS-intercepting proxies; env DOCKER_AGENT_CA_BUNDLE, else NODE_EXTRA_CA_CERTS)",
    ).default(process.env.DOCKER_AGENT_CA_BUNDLE ?? process.env.NODE_EXTRA_CA_CERTS),
  )
  .option("--no-ca-bundle", "trust only the image's own CAs")
  .option("--json", "print JSON")
  .action(
    async (name: string, o: { profile: string; caBundle?: string | false; json?: boolean }) => {
      const { manager } = setup();
      if (o.caBundle && !existsSync(o.caBundle))
        throw new VmdError(
          "err_bad_flag",
          `--ca-bundle ${o.caBundle} does not exist`,
          "pass a PEM file, or --no-ca-bundle",
        );
      const r = await manager.create(name, {
        profile: o.profile,
        ...(o.caBundle ? { caBundle: o.caBundle } : {}),
      });
      if (o.json) return printJson({ name, ...r });
      console.log(`agent ${name} connected in ${r.seconds.toFixed(1)} s (image ${r.image})`);
    },
  );

program
  .command("list")
  .description("Agents: container state, hub connection, last health report")
  .option("--json", "print JSON")
  .action(async (o: { json?: boolean }) => {
    const rows = await setup().manager.list();
    if (o.json) return printJson(rows);
    if (rows.length === 0) return console.log("no agents (docker-agent create <name>)");
    console.log(
      table(
        ["NAME", "PROFILE", "CONTAINER", "HUB", "CPU", "MEMORY"],
        rows.map((r) => [
          r.name,
          r.profile,
          r.container,
          r.connected ? "connected" : "offline",
          r.health ? `${r.health.cpuPercent}%` : "-",
          mb(r.health?.memoryBytes),
        ]),
      ),
    );
  });

program
  .command("status <name>")
  .description("One agent in detail: container, limits, hub connection, health, recent tasks")
  .option("--json", "print JSON")
  .action(async (name: string, o: { json?: boolean }) => {
    const s = await setup().manager.status(name);
    if (o.json) return printJson(s);
    const h = s.hub?.health;
    console.log(
      [
        `agent      ${s.name} (profile ${s.profile})`,
        `container  ${s.container.name} ${s.container.id} ${s.container.state} since ${s.container.startedAt}`,
        `image      ${s.container.image}`,
        `limits     ${s.container.cpus} cpus, ${mb(s.container.memoryLimit)}, ${s.container.pidsLimit} pids, read-only root: ${s.container.readOnlyRoot}`,
        `workspace  volume ${s.container.volume} at /workspace`,
        `hub        ${s.hub ? (s.hub.connected ? "connected" : "offline") : "not registered"}`,
        ...(h
          ? [
              `health     cpu ${h.cpuPercent}%, memory ${mb(h.memoryBytes)}, disk ${mb(h.diskUsedBytes)} of ${mb(h.diskTotalBytes)}, up ${h.uptimeSeconds} s`,
            ]
          : []),
        ...s.recentTasks.map(
          (t) =>
            `task       ${t.id.slice(0, 8)} ${t.status} ${t.exitCode ?? ""} ${t.command ?? t.type}`,
        ),
      ].join("\n"),
    );
  });

program
  .command("start <name>")
  .description("Start a stopped agent and wait until it reconnects")
  .action(async (name: string) => {
    await setup().manager.start(name);
    console.log(`agent ${name} connected`);
  });

program
  .command("stop <name>")
  .description("Stop an agent's container (its queued tasks wait for it)")
  .action(async (name: string) => {
    await setup().manager.stop(name);
    console.log(`agent ${name} stopped`);
  });

program
  .command("destroy <name>")
  .description("Remove the agent's container and hub record; its volume stays unless --volume")
  .option("--volume", "also remove the volume openclaw-agent-<name> (its /workspace)")
  .action(async (name: string, o: { volume?: boolean }) => {
    const r = await setup().manager.destroy(name, { volume: !!o.volume });
    console.log(
      `agent ${name} destroyed${r.volumeRemoved ? " with its volume" : `; volume openclaw-agent-${name} kept (--volume removes it)`}`,
    );
  });

program
  .command("exec <name> <command...>")
  .description("Run a shell command in the agent, streaming its output; exits with its exit code")
  .option("--timeout <seconds>", "kill it after this many seconds", positiveInt("--timeout"))
  .action(async (name: string, command: string[], o: { timeout?: number }) => {
    const t = await setup().manager.exec(name, command.join(" "), {
      ...(o.timeout ? { timeoutMs: o.timeout * 1000 } : {}),
      onOutput: write,
    });
    if (t.status !== "succeeded" && t.status !== "failed")
      console.error(`docker-agent: task ${t.status}${t.error ? `: ${t.error}` : ""}`);
    process.exitCode = taskExitCode(t);
  });

program
  .command("task <name> <json>")
  .description(
    "Send a JSON task ({type: exec|write_file|read_file, ...}); queued if the agent is offline",
  )
  .option("--no-wait", "return once queued")
  .option("--json", "print the task record as JSON")
  .action(async (name: string, json: string, o: { wait: boolean; json?: boolean }) => {
    let spec: Record<string, unknown>;
    try {
      spec = JSON.parse(json) as Record<string, unknown>;
    } catch (err) {
      throw new VmdError(
        "err_bad_task",
        `the task is not JSON: ${(err as Error).message}`,
        `quote it: '{"type":"exec","command":"pwd"}'`,
      );
    }
    const t = await setup().manager.task(name, spec, { wait: o.wait });
    if (o.json) printJson(t);
    else if (!o.wait) console.log(`task ${t.id} ${t.status}`);
    else {
      if (t.output) process.stdout.write(t.output);
      console.error(
        `task ${t.id} ${t.status}${t.exitCode === null ? "" : ` (exit ${t.exitCode})`}${t.error ? `: ${t.error}` : ""}`,
      );
    }
    if (o.wait) process.exitCode = taskExitCode(t);
  });

program
  .command("shell <name> [command]")
  .description("An interactive shell (a real TTY) in the agent's container")
  .action(async (name: string, command?: string) => {
    process.exitCode = await setup().manager.shell(name, command);
  });

program
  .command("logs <name>")
  .description("The agent's container output")
  .option("-f, --follow", "keep printing new output")
  .option("-n, --tail <lines>", "only the last lines", positiveInt("--tail"))
  .action(async (name: string, o: { follow?: boolean; tail?: number }) => {
    await setup({ hub: false }).manager.logs(
      name,
      { follow: !!o.follow, ...(o.tail === undefined ? {} : { tail: o.tail }) },
      process.stdout,
    );
  });

program
  .command("snapshot <name> [tag]")
  .description(
    "Commit the container and its /workspace into an image openclaw-agent-snapshot-<name>:<tag>",
  )
  .option("--json", "print JSON")
  .action(async (name: string, tag: string | undefined, o: { json?: boolean }) => {
    const r = await setup().manager.snapshot(name, tag);
    if (o.json) return printJson(r);
    console.log(
      `snapshot ${r.reference} (commit ${r.commitMs} ms, with the workspace ${r.totalMs} ms)`,
    );
  });

program
  .command("snapshots <name>")
  .description("The agent's snapshots")
  .option("--json", "print JSON")
  .action(async (name: string, o: { json?: boolean }) => {
    const list = await setup({ hub: false }).manager.snapshots(name);
    if (o.json) return printJson(list);
    console.log(list.length ? list.join("\n") : `no snapshots of ${name}`);
  });

program
  .command("restore <name> <snapshot>")
  .description(
    "Replace the agent's container and /workspace with a snapshot's (tag or image reference)",
  )
  .action(async (name: string, snapshot: string) => {
    const r = await setup().manager.restore(name, snapshot);
    console.log(
      `agent ${name} restored from ${r.reference} and connected in ${r.seconds.toFixed(1)} s`,
    );
  });

program
  .command("profiles")
  .description("The profiles agents can be created from")
  .option("--json", "print JSON")
  .action((o: { json?: boolean }) => {
    const { profiles } = setup({ hub: false });
    const all = profiles.names().map((n) => profiles.get(n));
    if (o.json) return printJson(all);
    console.log(
      table(
        ["PROFILE", "DESCRIPTION"],
        all.map((p) => [p.name, p.description]),
      ),
    );
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? 0 : PRODUCT_ERROR;
  else {
    console.error(formatError(err, "docker-agent"));
    process.exitCode = PRODUCT_ERROR;
  }
}
