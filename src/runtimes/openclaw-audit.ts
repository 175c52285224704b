// Upstream's start-up security audit (spec §1.2 a), run before the gateway starts. Only a working
// passwordless sudo is fatal: an agent with root on its container is not sandboxed.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, statfsSync } from "node:fs";

export interface AuditFinding {
  level: "info" | "warn" | "fatal";
  message: string;
}

export interface AuditProbes {
  sudoWorks(): boolean;
  isSocket(path: string): boolean;
  fsType(path: string): number | undefined;
  read(path: string): string | undefined;
}

const VIRTIOFS_MAGIC = 0x6a656a63;

export const hostProbes: AuditProbes = {
  sudoWorks: () => spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0,
  isSocket: (path) => existsSync(path) && statSync(path).isSocket(),
  fsType: (path) => {
    try {
      return statfsSync(path).type;
    } catch {
      return undefined;
    }
  },
  read: (path) => {
    try {
      return readFileSync(path, "utf8").trim();
    } catch {
      return undefined;
    }
  },
};

export function securityAudit(workspace: string, probes: AuditProbes = hostProbes): AuditFinding[] {
  const found: AuditFinding[] = [];
  if (probes.sudoWorks())
    found.push({ level: "fatal", message: "passwordless sudo works in this container" });
  if (probes.isSocket("/var/run/docker.sock"))
    found.push({
      level: "warn",
      message: "/var/run/docker.sock is mounted: that is root on the host",
    });
  if (probes.fsType(workspace) === VIRTIOFS_MAGIC)
    found.push({ level: "warn", message: `the workspace ${workspace} is on virtiofs` });
  const apparmor = probes.read("/sys/module/apparmor/parameters/enabled");
  found.push(
    apparmor?.toLowerCase() === "y"
      ? { level: "info", message: "AppArmor is enabled" }
      : { level: "warn", message: "AppArmor is not enabled" },
  );
  if (probes.read("/sys/fs/selinux/enforce") === "1")
    found.push({ level: "info", message: "SELinux is enforcing" });
  return found;
}

/** Logs the findings as upstream does (`[security][level] ...` on stderr); throws on a fatal one. */
export function runSecurityAudit(workspace: string, probes: AuditProbes = hostProbes): void {
  const found = securityAudit(workspace, probes);
  for (const f of found) console.error(`[security][${f.level}] ${f.message}`);
  const fatal = found.find((f) => f.level === "fatal");
  if (fatal) throw new Error(`security audit failed: ${fatal.message}`);
}
