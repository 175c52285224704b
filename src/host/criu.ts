import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { VmdError } from "../errors.js";
import type { Task } from "../progress.js";
import { downloadDebianSource, ensurePackages } from "../sys/apt.js";
import { run, runOrThrow } from "../sys/exec.js";
import type { StatePaths } from "./paths.js";
import { cannotInstallReason, detectPlatform } from "../sys/platform.js";

/**
 * CRIU 4.2 is the first that dumps TCP sockets on Linux >= 6.16 (the kernel restricted
 * SO_PASSCRED/SO_PASSSEC to unix sockets; CRIU 4.1 fails "Can't get 1:16 opt"), and every process
 * container listens on one.
 */
export const MIN_CRIU = [4, 2] as const;
const MIN_CRIU_TEXT = MIN_CRIU.join(".");
/** Debian's unstable suite carries CRIU >= 4.2 (4.2.1 when this was written). */
const SOURCE_SUITE = "sid";

function versionAtLeast(version: string | undefined, min: readonly number[]): boolean {
  const parts = (version ?? "0").split(".").map(Number);
  for (let i = 0; i < min.length; i++) {
    const a = parts[i] ?? 0;
    if (a !== min[i]) return a > min[i]!;
  }
  return true;
}

const TARBALL = /^criu_([\d.]+)\.orig\.tar\.(xz|gz)$/;
const usableTarball = (dir: string) =>
  readdirSync(dir)
    .filter((f) => TARBALL.test(f) && versionAtLeast(TARBALL.exec(f)![1], MIN_CRIU))
    .sort()
    .pop();
export const CRIU_INSTALL_PATH = "/usr/local/sbin/criu";

export interface CriuStatus {
  installed: boolean;
  version?: string;
  works: boolean;
  detail: string;
}

const BUILD_DEPS = [
  "build-essential",
  "xz-utils",
  "libprotobuf-c-dev",
  "protobuf-c-compiler",
  "libprotobuf-dev",
  "protobuf-compiler",
  "libnl-3-dev",
  "libnet1-dev",
  "libcap-dev",
  "pkg-config",
  "python3-protobuf",
  "libbsd-dev",
  "libgnutls28-dev",
  "libnftables-dev",
  "libaio-dev",
  "uuid-dev",
  "libdrm-dev",
  "iptables",
];

const criuEnv = () => ({
  ...process.env,
  PATH: `/usr/local/sbin:${process.env.PATH ?? "/usr/bin:/bin"}`,
});

export async function criuStatus(): Promise<CriuStatus> {
  const ver = await run("criu", ["--version"], { env: criuEnv() });
  if (ver.code === 127) return { installed: false, works: false, detail: "criu is not installed" };
  const version = /Version:\s*(\S+)/.exec(ver.stdout)?.[1];
  const recentEnough = versionAtLeast(version, MIN_CRIU);
  const check = await run("criu", ["check"], { env: criuEnv(), timeoutMs: 30_000 });
  const output = `${check.stdout}\n${check.stderr}`;
  const checkOk = check.code === 0 && output.includes("Looks good");
  if (!recentEnough) {
    const why = checkOk ? "" : `; criu check: ${firstError(output)}`;
    return {
      installed: true,
      version,
      works: false,
      detail: `criu ${version} is older than ${MIN_CRIU_TEXT} (needed to checkpoint containers with TCP sockets)${why}`,
    };
  }
  if (!checkOk)
    return {
      installed: true,
      version,
      works: false,
      detail: `criu check failed: ${firstError(output)}`,
    };
  return {
    installed: true,
    version,
    works: true,
    detail: `criu ${version}: criu check says "Looks good."`,
  };
}

function firstError(output: string): string {
  const line =
    output.split("\n").find((l) => /error|fail|unexpected/i.test(l)) ??
    output.trim().split("\n")[0];
  return (line ?? "").trim().slice(0, 160);
}

/**
 * Builds CRIU >= 4.2 from Debian's unstable source tarball and installs the binary to
 * /usr/local/sbin, where dockerd's runc finds it. Debian 12's own criu (3.17) fails `criu check`
 * on recent kernels. The build is cached under the state folder.
 */
export async function installCriu(paths: StatePaths, task: Task): Promise<void> {
  const cannot = cannotInstallReason(detectPlatform());
  if (cannot)
    throw new VmdError("err_criu_missing", `CRIU >= ${MIN_CRIU_TEXT} is not installed`, cannot);
  const dir = paths.criu.buildDir;
  mkdirSync(dir, { recursive: true });
  const onLine = (l: string) => task.update(l.trim().slice(0, 60));

  task.update("installing build dependencies", 0.05);
  await ensurePackages(BUILD_DEPS, onLine);

  let tarball = usableTarball(dir);
  if (!tarball) {
    task.update(`fetching CRIU >= ${MIN_CRIU_TEXT} source from Debian`, 0.2);
    await downloadDebianSource("criu", SOURCE_SUITE, dir, onLine);
    tarball = usableTarball(dir);
    if (!tarball)
      throw new VmdError(
        "err_criu_missing",
        `Debian's criu >= ${MIN_CRIU_TEXT} source tarball could not be fetched`,
        `check that Debian's mirror is reachable, or install CRIU >= ${MIN_CRIU_TEXT} by hand`,
      );
  }
  const version = /^criu_([\d.]+)\.orig/.exec(tarball)![1]!;
  const srcDir = join(dir, `criu-${version}`);
  const built = join(srcDir, "criu", "criu");
  if (!existsSync(built)) {
    task.update(`unpacking criu ${version}`, 0.3);
    rmSync(srcDir, { recursive: true, force: true });
    await runOrThrow(
      "tar",
      ["-C", dir, "-xf", join(dir, tarball)],
      "unpacking CRIU",
      "remove the state folder's criu/ and retry",
    );
    task.update(`compiling criu ${version} (about a minute)`, 0.35);
    let lines = 0;
    await runOrThrow(
      "make",
      [`-j${Math.max(2, availableParallelism())}`, "criu"],
      `building CRIU ${version}`,
      `read the build output in ${srcDir}`,
      {
        cwd: srcDir,
        onLine: (l) => task.update(l.trim().slice(0, 60), Math.min(0.95, 0.35 + ++lines / 900)),
      },
    );
  }
  copyFileSync(built, CRIU_INSTALL_PATH);
  await run("chmod", ["755", CRIU_INSTALL_PATH]);
}
