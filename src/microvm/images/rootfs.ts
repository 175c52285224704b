// The guest's root filesystem: Debian bookworm from debootstrap with systemd, an SSH server and
// the first-boot step (images/microvm), Node 24 and the pinned OpenClaw installed the way the
// container image does it (npm on the host, copied in, install steps completed), packed as ext4.
import { spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import type { Task } from "../../progress.js";
import { run, runOrThrow } from "../../sys/exec.js";
import { debootstrapRootfs } from "../../runtime/images/sources.js";

export const GUEST_PACKAGES = [
  "systemd-sysv",
  "udev",
  "dbus",
  "openssh-server",
  "iproute2",
  "ca-certificates",
  "curl",
];
/** Debian's Chromium stands in for the Puppeteer/Playwright browsers the seed installs. */
export const BROWSER_PACKAGES = ["chromium"];

/** Where OpenClaw lives in the guest. */
export const GUEST_OPENCLAW = "/opt/openclaw/node_modules/openclaw/openclaw.mjs";
export const GUEST_NODE = "/usr/local/bin/node";
export const GUEST_COMPILE_CACHE = "/var/cache/openclaw/compile";

/**
 * Under software emulation a worker thread of OpenClaw's gateway needs longer than the 5 s its
 * state-lease heartbeat allows to start, and the gateway gives up. The guest's copy gets 120 s.
 */
const LEASE_TIMEOUT = /const LEASE_HEARTBEAT_START_TIMEOUT_MS = 5e3;/;

/** Background timers a bot VM does not need; each costs CPU that software emulation lacks. */
const MASKED_UNITS = [
  "apt-daily.timer",
  "apt-daily-upgrade.timer",
  "e2scrub_all.timer",
  "fstrim.timer",
  "getty@tty1.service",
];

async function chroot(tree: string, args: string[], what: string): Promise<void> {
  await runOrThrow("chroot", [tree, ...args], what, "build as root on Debian (vm-ctl prepare)");
}

/** `apt-get install` inside the tree (the host's network and resolver; /proc mounted for it). */
async function aptInstall(tree: string, packages: string[], task: Task): Promise<void> {
  task.update(`apt-get install ${packages.join(" ")} in the guest's tree`, 0.5);
  copyFileSync("/etc/resolv.conf", join(tree, "etc", "resolv.conf"));
  await runOrThrow(
    "mount",
    ["--bind", "/proc", join(tree, "proc")],
    "mounting /proc",
    "run as root",
  );
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const hint = "check that Debian's mirror is reachable, or pass --skip-browser-install";
    await runOrThrow(
      "chroot",
      [tree, "apt-get", "update", "-q"],
      "apt-get update in the tree",
      hint,
      { env },
    );
    let lines = 0;
    await runOrThrow(
      "chroot",
      [tree, "apt-get", "install", "-y", "-q", "--no-install-recommends", ...packages],
      `apt-get install ${packages.join(" ")}`,
      hint,
      {
        env,
        onLine: () =>
          task.update(
            `apt-get install ${packages.join(" ")}`,
            Math.min(0.69, 0.5 + ++lines / 2000),
          ),
      },
    );
  } finally {
    await run("umount", ["-l", join(tree, "proc")]);
  }
}

/** Unpacks a tar into `dir`. */
async function untar(tar: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await runOrThrow("tar", ["-xf", tar, "-C", dir], `unpacking ${tar}`, "check free disk space");
}

/** Installs `source` at `tree`+`target` with `mode`. */
function install(source: string, tree: string, target: string, mode: number): void {
  mkdirSync(join(tree, target, ".."), { recursive: true });
  copyFileSync(source, join(tree, target));
  chmodSync(join(tree, target), mode);
}

/** The bundled skill names of the OpenClaw in `tree` (for the --skills check). */
export function bundledSkills(tree: string): string[] {
  const dir = join(tree, "opt", "openclaw", "node_modules", "openclaw", "skills");
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/**
 * Runs the gateway once natively in the tree (chroot) until it answers /health, so Node's compile
 * cache holds OpenClaw's modules: the guest then skips most of the parsing that costs minutes
 * under emulation. Best effort: returns why it did not work, or null.
 */
async function primeCompileCache(tree: string, task: Task): Promise<string | null> {
  const home = join(tree, "tmp", "prime-home");
  mkdirSync(home, { recursive: true });
  chmodSync(home, 0o777);
  await runOrThrow(
    "mount",
    ["--bind", "/proc", join(tree, "proc")],
    "mounting /proc",
    "run as root",
  );
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(
    "chroot",
    [
      "--userspec=openclaw:openclaw",
      tree,
      "/usr/bin/env",
      "HOME=/tmp/prime-home",
      `NODE_COMPILE_CACHE=${GUEST_COMPILE_CACHE}`,
      "OPENCLAW_GATEWAY_TOKEN=prime-only",
      GUEST_NODE,
      GUEST_OPENCLAW,
      "gateway",
      "--bind",
      "loopback",
      "--port",
      String(port),
      "--allow-unconfigured",
      "--auth",
      "token",
    ],
    { stdio: "ignore", detached: true },
  );
  try {
    const deadline = Date.now() + 300_000;
    while (Date.now() < deadline && child.exitCode === null) {
      task.update("warming Node's compile cache (the gateway, natively)", 0.85);
      const ok = await fetch(`http://127.0.0.1:${port}/health`, {
        signal: AbortSignal.timeout(2000),
      }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return null;
      await new Promise((r) => setTimeout(r, 1000));
    }
    return child.exitCode === null ? "the gateway did not answer in 300 s" : "the gateway exited";
  } finally {
    // The gateway forks helpers: end the whole process group, then let go of /proc.
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
    await new Promise((r) => setTimeout(r, 2000));
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
    await run("umount", ["-l", join(tree, "proc")]);
    // What the run left in /tmp (locks, the throwaway home) goes; /tmp itself stays.
    for (const f of readdirSync(join(tree, "tmp")))
      rmSync(join(tree, "tmp", f), { recursive: true, force: true });
  }
}

export interface RootfsInputs {
  mirror: string;
  browser: boolean;
  nodeBinary: string;
  openclawTar: string;
  /** images/microvm: first-boot script and unit, sshd drop-in. */
  guestFiles: string;
}

/**
 * Builds the ext4 root filesystem image at `out` in the work folder `tree` (removed after).
 * Returns the bundled skills of the OpenClaw it holds.
 * @throws VmdError err_image_build
 */
export async function buildRootfs(
  inputs: RootfsInputs,
  tree: string,
  out: string,
  task: Task,
): Promise<string[]> {
  await debootstrapRootfs(tree, inputs.mirror, task, GUEST_PACKAGES);
  // debootstrap cannot resolve Chromium's dependencies (alternatives); apt in the tree can.
  if (inputs.browser) await aptInstall(tree, BROWSER_PACKAGES, task);
  task.update("installing Node 24 and OpenClaw", 0.7);
  install(inputs.nodeBinary, tree, GUEST_NODE, 0o755);
  await untar(inputs.openclawTar, join(tree, "opt", "openclaw"));
  const dist = join(tree, "opt", "openclaw", "node_modules", "openclaw", "dist");
  const shared = readdirSync(dist).find((f) =>
    f.startsWith("openclaw-state-lease-heartbeat-shared"),
  );
  if (shared) {
    const file = join(dist, shared);
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        LEASE_TIMEOUT,
        "const LEASE_HEARTBEAT_START_TIMEOUT_MS = 12e4;",
      ),
    );
  }
  writeFileSync(
    join(tree, "usr", "local", "bin", "openclaw"),
    `#!/bin/sh\nexec ${GUEST_NODE} ${GUEST_OPENCLAW} "$@"\n`,
    { mode: 0o755 },
  );
  await chroot(
    tree,
    [
      "useradd",
      "--system",
      "--create-home",
      "--home-dir",
      "/home/openclaw",
      "--shell",
      "/usr/sbin/nologin",
      "openclaw",
    ],
    "adding the openclaw user",
  );
  mkdirSync(join(tree, GUEST_COMPILE_CACHE), { recursive: true });
  await chroot(tree, ["chown", "-R", "openclaw:openclaw", "/var/cache/openclaw"], "chown");

  task.update("installing the first-boot step and SSH settings", 0.8);
  const g = inputs.guestFiles;
  install(join(g, "vmdemo-firstboot"), tree, "/usr/local/sbin/vmdemo-firstboot", 0o755);
  install(
    join(g, "vmdemo-firstboot.service"),
    tree,
    "/etc/systemd/system/vmdemo-firstboot.service",
    0o644,
  );
  install(join(g, "sshd-vmdemo.conf"), tree, "/etc/ssh/sshd_config.d/vmdemo.conf", 0o644);
  for (const f of readdirSync(join(tree, "etc", "ssh")))
    if (f.startsWith("ssh_host_")) rmSync(join(tree, "etc", "ssh", f));
  writeFileSync(join(tree, "etc", "machine-id"), "");
  writeFileSync(join(tree, "etc", "hostname"), "vmdemo\n");
  writeFileSync(join(tree, "etc", "resolv.conf"), "");
  mkdirSync(join(tree, "var", "log", "journal"), { recursive: true });
  await chroot(
    tree,
    ["systemctl", "enable", "vmdemo-firstboot.service", "systemd-networkd.service", "ssh.service"],
    "enabling the guest's services",
  );
  await chroot(tree, ["systemctl", "mask", ...MASKED_UNITS], "masking timers");

  const why = await primeCompileCache(tree, task);
  if (why) task.update(`compile cache not warmed: ${why}`, 0.88);
  const skills = bundledSkills(tree);
  await chroot(tree, ["apt-get", "clean"], "apt-get clean");
  rmSync(join(tree, "var", "lib", "apt", "lists"), { recursive: true, force: true });
  mkdirSync(join(tree, "var", "lib", "apt", "lists", "partial"), { recursive: true });

  task.update("making the ext4 image", 0.9);
  const du = await runOrThrow("du", ["-sb", tree], "measuring the tree", "");
  const bytes = Number(du.stdout.split(/\s/)[0]);
  // Room for the bot's state, logs and packages: 2 GiB beyond what the tree holds.
  const gib = Math.ceil((bytes * 1.1) / 2 ** 30) + 2;
  rmSync(out, { force: true });
  await runOrThrow(
    "mkfs.ext4",
    ["-q", "-F", "-L", "vmdemo-root", "-d", tree, `${out}.part`, `${gib}G`],
    "mkfs.ext4",
    "install e2fsprogs >= 1.43 (mkfs.ext4 -d)",
  );
  await runOrThrow("mv", [`${out}.part`, out], "placing the image", "");
  rmSync(tree, { recursive: true, force: true });
  if (!skills.length)
    throw new VmdError("err_image_build", "OpenClaw's bundled skills are missing", "rebuild");
  return skills;
}
