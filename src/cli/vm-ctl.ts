#!/usr/bin/env node
// vm-ctl: manages microVM bots after vm-setup (seed fireclaw-vm-demo, "Usage"). Thin: parses,
// calls src/microvm, prints (tables for people, --json for scripts and the dashboard).
import { createInterface } from "node:readline/promises";
import { Command, CommanderError, Option } from "commander";
import { VmdError } from "../errors.js";
import { logs, PROVISION_KEYS, reprovision, shell, token } from "../microvm/access.js";
import { microvmDoctor } from "../microvm/doctor.js";
import { microvmEnv } from "../microvm/env.js";
import type { RawSetupOptions } from "../microvm/flags.js";
import { destroyInstance } from "../microvm/instance.js";
import {
  bootInstances,
  pauseInstance,
  resumeInstance,
  startInstance,
  stopInstance,
  vmCtlScript,
} from "../microvm/lifecycle.js";
import { startProxy } from "../microvm/net/proxy.js";
import { instancePaths } from "../microvm/paths.js";
import { prepareHost } from "../microvm/prepare.js";
import { readInstance } from "../microvm/state.js";
import { botStatus, listBots, type BotStatus } from "../microvm/status.js";
import { listSnapshots, restoreSnapshot, takeSnapshot } from "../microvm/snapshots.js";
import { runSupervisor } from "../microvm/supervisor.js";
import { unitFiles } from "../microvm/units.js";
import { formatError, printChecks, printJson, table } from "./output.js";
import { terminalProgress } from "./progress.js";
import { exitQuietlyOnClosedPipe, hideSecretsFromPs, positiveSeconds } from "./vm-common.js";

hideSecretsFromPs("vm-ctl");
exitQuietlyOnClosedPipe();

const env = () => microvmEnv();
const waitMs = (o: { timeout?: string }, emulated = 2400) =>
  (o.timeout ? positiveSeconds("--timeout", o.timeout) : emulated) * 1000;
const progressLine = (what: string) => {
  let last = -30;
  return (s: number) => {
    if (s - last >= 30) {
      last = s;
      process.stderr.write(`${what}: waiting for the gateway (${Math.round(s)} s)\n`);
    }
  };
};

const program = new Command("vm-ctl")
  .description("Manage microVM bots: lifecycle, logs, shell, token, snapshots, doctor")
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride()
  .addHelpText(
    "after",
    `
Environment: STATE_ROOT FC_ROOT BASE_PORT BRIDGE_NAME BRIDGE_ADDR SUBNET_CIDR SSH_KEY_PATH BASE_IMAGES_DIR
(the same values vm-setup was run with).

Example:
  vm-ctl list
  vm-ctl status my-bot --json
  vm-ctl logs my-bot host
  vm-ctl shell my-bot "systemctl status openclaw-my-bot"
  curl -fsS http://127.0.0.1:18890/health`,
  );

function row(s: BotStatus): string[] {
  return [
    s.id,
    s.state,
    s.health,
    `${s.vmm}/${s.accel ?? "-"}`,
    s.network === "bridge" ? (s.ip ?? "-") : "user",
    `127.0.0.1:${s.hostPort}`,
    String(s.pid ?? "-"),
    `${s.vcpu}/${s.memMib}`,
    s.model ?? "-",
  ];
}
const HEAD = ["ID", "STATE", "HEALTH", "VMM", "IP", "PROXY", "PID", "VCPU/MIB", "MODEL"];

program
  .command("list")
  .description("All instances: state, health through the proxy, VMM, address, port")
  .option("--json", "print a JSON array, one object per bot")
  .action(async (o: { json?: boolean }) => {
    const rows = await listBots(env(), (l) => console.error(`vm-ctl: ${l}`));
    if (o.json) return printJson(rows);
    if (!rows.length) return console.log("no instances (vm-setup --instance <id> ...)");
    console.log(table(HEAD, rows.map(row)));
  });

program
  .command("status [id]")
  .description("One instance in detail (all of them without an id)")
  .option("--json", "print JSON")
  .action(async (id: string | undefined, o: { json?: boolean }) => {
    const e = env();
    if (!id) {
      const rows = await listBots(e, (l) => console.error(`vm-ctl: ${l}`));
      return o.json
        ? printJson(rows)
        : console.log(rows.length ? table(HEAD, rows.map(row)) : "no instances");
    }
    const s = await botStatus(e, readInstance(e, id));
    if (o.json) return printJson(s);
    const lines: [string, string][] = [
      ["instance", s.id],
      [
        "state",
        `${s.state} (wanted: ${s.desired}; supervisor: ${s.supervisor}${s.supervisorPid ? ` pid ${s.supervisorPid}` : ""})`,
      ],
      ["health", `${s.health} (GET http://127.0.0.1:${s.hostPort}/health)`],
      [
        "vmm",
        `${s.vmm} ${s.accel ?? ""}${s.pid ? ` pid ${s.pid}` : ""}${s.since ? ` since ${s.since}` : ""}`,
      ],
      [
        "network",
        s.network === "bridge"
          ? `bridge, ${s.ip}, TAP ${s.tap}`
          : `user, SSH on 127.0.0.1:${s.sshPort}`,
      ],
      ["size", `${s.vcpu} vCPU, ${s.memMib} MiB`],
      ["model", s.model ?? "-"],
      ["restarts", String(s.restarts)],
      ["created", s.createdAt],
    ];
    if (s.lastError) lines.push(["last error", s.lastError]);
    console.log(lines.map(([k, v]) => `${k.padEnd(11)}${v}`).join("\n"));
  });

program
  .command("start <id>")
  .description("Start the VM (and its proxy) and wait until the gateway answers")
  .option("--no-wait", "return once it is starting")
  .option("--timeout <seconds>", "how long to wait for the gateway (default 2400)")
  .action(async (id: string, o: { wait: boolean; timeout?: string }) => {
    const ms = await startInstance(env(), id, {
      waitMs: o.wait ? waitMs(o) : 0,
      onWait: progressLine(id),
    });
    console.log(o.wait ? `${id} is up (${(ms / 1000).toFixed(1)} s)` : `${id} is starting`);
  });

program
  .command("stop <id>")
  .description(
    "Power the guest off and stop its VMM and proxy; it stays stopped across host restarts",
  )
  .option("--now", "kill the VMM instead of powering the guest off")
  .action(async (id: string, o: { now?: boolean }) => {
    await stopInstance(env(), id, { now: !!o.now });
    console.log(`${id} stopped`);
  });

program
  .command("restart <id>")
  .description("stop, then start")
  .option("--timeout <seconds>", "how long to wait for the gateway (default 2400)")
  .action(async (id: string, o: { timeout?: string }) => {
    const e = env();
    const wait = waitMs(o);
    await stopInstance(e, id);
    const ms = await startInstance(e, id, { waitMs: wait, onWait: progressLine(id) });
    console.log(`${id} restarted (${(ms / 1000).toFixed(1)} s)`);
  });

program
  .command("pause <id>")
  .description("Freeze the guest's vCPUs (memory stays)")
  .action(async (id: string) => {
    await pauseInstance(env(), id);
    console.log(`${id} paused`);
  });

program
  .command("resume <id>")
  .description("Continue a paused guest")
  .action(async (id: string) => {
    await resumeInstance(env(), id);
    console.log(`${id} resumed`);
  });

program
  .command("logs <id> [where]")
  .description(
    "Tail the gateway's log in the guest, or (host) the supervisor, VMM and console logs",
  )
  .option("-n, --lines <n>", "lines to show first", "100")
  .option("--no-follow", "print and exit instead of following")
  .action(async (id: string, where: string | undefined, o: { lines: string; follow: boolean }) => {
    const w = where ?? "guest";
    if (w !== "guest" && w !== "host")
      throw new VmdError(
        "err_bad_flag",
        `logs: ${w} is neither guest nor host`,
        `vm-ctl logs ${id} host`,
      );
    process.exitCode = await logs(env(), id, w, {
      follow: o.follow,
      lines: Number(o.lines) || 100,
    });
  });

program
  .command("shell <id> [cmd...]")
  .description("SSH into the guest as root; with a command, run it and pass its exit code on")
  .action(async (id: string, cmd: string[]) => {
    process.exitCode = await shell(env(), id, cmd);
  });

program
  .command("token <id>")
  .description("Print the gateway token (the only command that prints it)")
  .action((id: string) => {
    console.log(token(env(), id));
  });

program
  .command("destroy <id>")
  .description("Remove the instance: VM, proxy, TAP, disk, state (asks unless --force)")
  .option("--force", "do not ask")
  .action(async (id: string, o: { force?: boolean }) => {
    const e = env();
    try {
      readInstance(e, id);
    } catch (err) {
      // A record that no longer parses is what --force is for: destroy removes what it can.
      if (!(o.force && err instanceof VmdError && err.code === "err_state_corrupt")) throw err;
    }
    if (!o.force) {
      if (!process.stdin.isTTY)
        throw new VmdError(
          "err_confirm",
          `destroying ${id} needs a confirmation`,
          `pass --force (vm-ctl destroy ${id} --force)`,
        );
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      const answer = await rl.question(
        `Destroy ${id} and everything it holds? Type the id to confirm: `,
      );
      rl.close();
      if (answer.trim() !== id) return console.error("not destroyed");
    }
    const problems = await destroyInstance(e, id);
    for (const p of problems) console.error(`vm-ctl: warning: ${p}`);
    console.log(`${id} destroyed`);
  });

program
  .command("doctor")
  .description("Which VMM this host gets and why, and every requirement with its fix")
  .option("--json", "print the checks as JSON")
  .action(async (o: { json?: boolean }) => {
    printChecks(await microvmDoctor(env()), o.json);
  });

program
  .command("prepare")
  .description(
    "Install the host packages and build the base images (cached by content); idempotent",
  )
  .option("--skip-browser-install", "build the image without Chromium")
  .option("--no-images", "only the host packages")
  .option("--json", "print what was done as JSON")
  .action(async (o: { skipBrowserInstall?: boolean; images: boolean; json?: boolean }) => {
    const r = await prepareHost(
      env(),
      { images: o.images, browser: !o.skipBrowserInstall },
      terminalProgress(),
    );
    if (o.json) printJson(r);
    else if (r.images)
      console.log(
        `kernel ${r.images.kernel}\ninitrd ${r.images.initrd ?? "-"}\nrootfs ${r.images.rootfs}`,
      );
  });

const provision = program
  .command("provision <id>")
  .description(
    "Provision the running guest again with new flags (same disk, address, port and token)",
  )
  .option("--timeout <seconds>", "limit for provisioning (default 2400)")
  .option("--no-wait", "return once the new configuration is installed and the gateway restarting")
  .option("--json", "print the outcome as JSON");
const PROVISION_FLAGS: Record<(typeof PROVISION_KEYS)[number], [string, string]> = {
  telegramToken: ["--telegram-token <token>", "Telegram bot token"],
  telegramUsers: ["--telegram-users <ids>", "comma-separated allow list"],
  telegramApiRoot: ["--telegram-api-root <url>", "a self-hosted Telegram Bot API server"],
  model: ["--model <id>", "model id (provider/model)"],
  skills: ["--skills <list>", "comma-separated bundled skills"],
  anthropicApiKey: ["--anthropic-api-key <key>", "Anthropic API key"],
  openaiApiKey: ["--openai-api-key <key>", "OpenAI API key"],
  minimaxApiKey: ["--minimax-api-key <key>", "MiniMax API key"],
  providerBaseUrl: ["--provider-base-url <url>", "an OpenAI-compatible endpoint"],
  skipBrowserInstall: ["--skip-browser-install", "no browser tools"],
};
for (const k of PROVISION_KEYS) provision.addOption(new Option(...PROVISION_FLAGS[k]));
provision.action(
  async (
    id: string,
    o: Partial<RawSetupOptions> & { timeout?: string; json?: boolean; wait: boolean },
  ) => {
    const r = await reprovision(
      env(),
      id,
      o,
      waitMs(o) / 1000,
      (l) => process.stderr.write(`${l}\n`),
      o.wait,
    );
    if (o.json) printJson({ id, ...r });
    else
      console.log(
        `${id} provisioned again (${r.seconds.toFixed(0)} s)${o.wait ? "" : "; the gateway is restarting"}`,
      );
  },
);

program
  .command("snapshot <id> [name]")
  .description(
    "Save the running guest's memory, devices and disk under a name (default snap-<time>)",
  )
  .option("--json", "print JSON")
  .action(async (id: string, name: string | undefined, o: { json?: boolean }) => {
    const s = await takeSnapshot(env(), id, name);
    if (o.json) return printJson(s);
    console.log(
      `snapshot ${s.name} of ${id}: ${(s.memoryBytes / 2 ** 20).toFixed(0)} MiB of state in ${(s.ms / 1000).toFixed(1)} s`,
    );
  });

program
  .command("restore <id> [name]")
  .description("Resume a snapshot (default: the newest) instead of the running or stopped guest")
  .option("--timeout <seconds>", "how long to wait for the gateway (default 600)")
  .option("--json", "print JSON")
  .action(async (id: string, name: string | undefined, o: { timeout?: string; json?: boolean }) => {
    const r = await restoreSnapshot(env(), id, name, waitMs(o, 600));
    if (o.json) return printJson({ id, ...r });
    console.log(
      `${id} restored from ${r.name}; gateway answering after ${(r.ms / 1000).toFixed(2)} s`,
    );
  });

program
  .command("snapshots <id>")
  .description("The instance's snapshots")
  .option("--json", "print JSON")
  .action(async (id: string, o: { json?: boolean }) => {
    const list = await listSnapshots(env(), id);
    if (o.json) return printJson(list);
    if (!list.length) return console.log(`no snapshots of ${id} (vm-ctl snapshot ${id})`);
    console.log(
      table(
        ["NAME", "TAKEN", "STATE"],
        list.map((s) => [s.name, s.createdAt, `${(s.memoryBytes / 2 ** 20).toFixed(0)} MiB`]),
      ),
    );
  });

program
  .command("boot")
  .description(
    "Start every instance that was running before the host went down (run at host start)",
  )
  .action(async () => {
    const r = await bootInstances(env());
    console.log(r.started.length ? `started ${r.started.join(", ")}` : "nothing to start");
  });

program
  .command("units <id>")
  .description("Print the systemd units of an instance (what vm-setup installs where systemd runs)")
  .action((id: string) => {
    const e = env();
    const files = unitFiles(e, readInstance(e, id), process.execPath, vmCtlScript());
    for (const [name, text] of Object.entries(files)) console.log(`# ${name}\n${text}`);
  });

program
  .command("supervise <id>", { hidden: true })
  .description(
    "Run the instance's supervisor in the foreground (what start spawns; systemd's ExecStart)",
  )
  .option("--no-restart", "exit when the VMM dies (systemd restarts the unit)")
  .option("--no-proxy", "leave the proxy to its own unit")
  .action(async (id: string, o: { restart: boolean; proxy: boolean }) => {
    const code = await runSupervisor({
      env: env(),
      id,
      restart: o.restart,
      proxy: o.proxy,
      ...(Number(process.env.VMDEMO_STOP_TIMEOUT) > 0
        ? { stopGraceS: Number(process.env.VMDEMO_STOP_TIMEOUT) }
        : {}),
      log: (l) => console.log(l),
    });
    process.exit(code);
  });

program
  .command("proxy <id>", { hidden: true })
  .description("Run the instance's localhost proxy in the foreground (the proxy unit's ExecStart)")
  .action(async (id: string) => {
    const e = env();
    const r = readInstance(e, id);
    const proxy = await startProxy({
      listenHost: "127.0.0.1",
      listenPort: r.hostPort,
      targetHost: r.guestIp,
      targetPort: 18789,
    });
    console.log(`proxy ${proxy.address} -> ${r.guestIp}:18789 (${instancePaths(e, id).id})`);
    const end = () => void proxy.close().then(() => process.exit(0));
    process.on("SIGTERM", end);
    process.on("SIGINT", end);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exitCode = err.exitCode;
  else {
    console.error(formatError(err, "vm-ctl"));
    process.exitCode = 1;
  }
}
