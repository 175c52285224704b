import { existsSync, readFileSync } from "node:fs";

export interface Platform {
  os: NodeJS.Platform;
  isRoot: boolean;
  /** Debian or a derivative with apt-get: the only place setup installs packages by itself. */
  hasApt: boolean;
  distro: string;
}

export function detectPlatform(): Platform {
  let distro = process.platform as string;
  if (existsSync("/etc/os-release")) {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync("/etc/os-release", "utf8"));
    if (m?.[1]) distro = m[1];
  }
  return {
    os: process.platform,
    isRoot: typeof process.getuid === "function" && process.getuid() === 0,
    hasApt: process.platform === "linux" && existsSync("/usr/bin/apt-get"),
    distro,
  };
}

/** Why this host cannot install things by itself, or null when it can. */
export function cannotInstallReason(p: Platform): string | null {
  if (p.os === "darwin" || p.os === "win32") {
    return "install Docker Desktop and start it; CRIU checkpoints are Linux-only and stay off";
  }
  if (!p.hasApt)
    return `this is ${p.distro}, not Debian: install the packages named below with your package manager`;
  if (!p.isRoot)
    return "run as root (sudo vmdocker host setup) so packages can be installed and daemons started";
  return null;
}
