import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VmdError } from "../errors.js";
import { run, runOrThrow } from "./exec.js";

const aptEnv = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };

export async function missingPackages(names: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    const res = await run("dpkg-query", ["-W", "-f=${Status}", name]);
    if (res.code !== 0 || !res.stdout.includes("install ok installed")) missing.push(name);
  }
  return missing;
}

/**
 * Installs the Debian packages that are not installed yet. Refreshes the package lists first when
 * apt has never fetched them (a fresh machine) or an install fails for want of a fresh list.
 */
export async function ensurePackages(
  names: string[],
  onLine?: (l: string) => void,
): Promise<string[]> {
  const missing = await missingPackages(names);
  if (missing.length === 0) return [];
  const install = () =>
    // Another apt (another set-up, unattended upgrades) may hold dpkg's lock: wait for it.
    run(
      "apt-get",
      ["install", "-y", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", ...missing],
      {
        env: aptEnv,
        onLine,
      },
    );
  let res = await install();
  if (res.code !== 0) {
    await runOrThrow(
      "apt-get",
      ["update"],
      "apt-get update",
      "check that Debian's mirror is reachable",
      {
        env: aptEnv,
        onLine,
      },
    );
    res = await install();
  }
  if (res.code !== 0) {
    const tail = res.stderr.trim().split("\n").slice(-2).join(" | ");
    throw new VmdError(
      "err_host_install",
      `apt-get install ${missing.join(" ")} failed: ${tail}`,
      "run `apt-get update` and retry, or install the packages by hand",
    );
  }
  return missing;
}

/** The Debian mirror this host already uses (deb822 or one-line sources), for fetching CRIU's source. */
export function debianMirror(): string {
  const files = ["/etc/apt/sources.list", "/etc/apt/sources.list.d/debian.sources"];
  if (existsSync("/etc/apt/sources.list.d")) {
    for (const f of readdirSync("/etc/apt/sources.list.d"))
      files.push(join("/etc/apt/sources.list.d", f));
  }
  for (const f of files) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, "utf8");
    const m =
      /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text) ??
      /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s+\S+/m.exec(text);
    if (m?.[1]) return m[1];
  }
  return "http://deb.debian.org/debian";
}

/**
 * Downloads a Debian source package's files (the `.orig` tarball among them) into `dir` through a
 * temporary source list for `suite`: nothing is added to the system's apt lists. Answers the names
 * of the files in `dir` afterwards. `apt-get source` may fail to unpack the Debian part; only the
 * files matter, so its exit code is not checked.
 */
export async function downloadDebianSource(
  pkg: string,
  suite: string,
  dir: string,
  onLine?: (l: string) => void,
): Promise<string[]> {
  mkdirSync(join(dir, "lists", "partial"), { recursive: true });
  const listFile = join(dir, `${suite}-src.list`);
  writeFileSync(listFile, `deb-src ${debianMirror()} ${suite} main\n`);
  const opts = [
    "-o",
    `Dir::Etc::sourcelist=${listFile}`,
    "-o",
    "Dir::Etc::sourceparts=-",
    "-o",
    `Dir::State::Lists=${join(dir, "lists")}`,
  ];
  await runOrThrow(
    "apt-get",
    [...opts, "update"],
    `apt-get update (${suite} sources)`,
    "check that Debian's mirror is reachable",
    { onLine },
  );
  await run("apt-get", [...opts, "source", "--download-only", pkg], { cwd: dir, onLine });
  return readdirSync(dir);
}
