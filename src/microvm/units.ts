// systemd units for hosts where systemd runs (the seed's firecracker-vmdemo-<id>.service and
// vmdemo-proxy-<id>.service): the VM unit runs the supervisor without its own restarts (systemd's
// Restart= does that) and without the proxy, which has a unit of its own. `vm-ctl stop` disables
// both, so a stopped bot stays stopped after a reboot; `start` enables them again.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run, runOrThrow } from "../sys/exec.js";
import { envPairs, type MicrovmEnv } from "./env.js";
import type { InstanceRecord } from "./state.js";

export const UNIT_DIR = "/etc/systemd/system";

export const vmUnitName = (id: string) => `firecracker-vmdemo-${id}.service`;
export const proxyUnitName = (id: string) => `vmdemo-proxy-${id}.service`;

/** Whether systemd is this host's init (what `systemd-notify --booted` checks). */
export function systemdRuns(): boolean {
  return existsSync("/run/systemd/system");
}

function environment(env: MicrovmEnv): string {
  return Object.entries(envPairs(env))
    .map(([k, v]) => `Environment=${k}=${v.replace(/([\\"\s])/g, "\\$1")}`)
    .join("\n");
}

/** The units of instance `r` by file name (pure). `node` and `vmCtl` are absolute paths. */
export function unitFiles(
  env: MicrovmEnv,
  r: InstanceRecord,
  node: string,
  vmCtl: string,
): Record<string, string> {
  const units: Record<string, string> = {
    [vmUnitName(r.id)]: `[Unit]
Description=vmdemo microVM ${r.id} (${r.vmm})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
${environment(env)}
ExecStart=${node} ${vmCtl} supervise ${r.id} --no-restart --no-proxy
KillSignal=SIGTERM
TimeoutStopSec=120
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
`,
  };
  if (r.network === "bridge")
    units[proxyUnitName(r.id)] = `[Unit]
Description=vmdemo proxy 127.0.0.1:${r.hostPort} -> ${r.guestIp}:18789 (${r.id})
After=${vmUnitName(r.id)}
BindsTo=${vmUnitName(r.id)}

[Service]
Type=simple
${environment(env)}
ExecStart=${node} ${vmCtl} proxy ${r.id}
Restart=always
RestartSec=1
NoNewPrivileges=yes

[Install]
WantedBy=${vmUnitName(r.id)}
`;
  return units;
}

/** Writes the units, reloads systemd and enables them (`now`: starts them too). */
export async function installUnits(
  env: MicrovmEnv,
  r: InstanceRecord,
  node: string,
  vmCtl: string,
  now: boolean,
): Promise<void> {
  const files = unitFiles(env, r, node, vmCtl);
  for (const [name, text] of Object.entries(files))
    writeFileSync(join(UNIT_DIR, name), text, { mode: 0o644 });
  await runOrThrow("systemctl", ["daemon-reload"], "systemctl daemon-reload", "check systemd");
  await setUnitsEnabled(r, true, now);
}

export async function setUnitsEnabled(r: InstanceRecord, on: boolean, now: boolean): Promise<void> {
  const names = [vmUnitName(r.id), ...(r.network === "bridge" ? [proxyUnitName(r.id)] : [])];
  await runOrThrow(
    "systemctl",
    [on ? "enable" : "disable", ...(now ? ["--now"] : []), ...names],
    `systemctl ${on ? "enable" : "disable"} ${names.join(" ")}`,
    "check `systemctl status` of the units",
  );
}

/** Stops, disables and deletes the units; missing ones are fine. */
export async function removeUnits(r: InstanceRecord): Promise<void> {
  const names = [vmUnitName(r.id), proxyUnitName(r.id)];
  await run("systemctl", ["disable", "--now", ...names]);
  for (const n of names) rmSync(join(UNIT_DIR, n), { force: true });
  await run("systemctl", ["daemon-reload"]);
}
