// Shared by `npm start` and `npm test`: install dependencies when missing, compile, and run the CLI.
// Only Node built-ins here: this runs before node_modules exists on a fresh clone.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const cli = join(root, "dist", "src", "cli", "vmdocker.js");

export function step(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (res.status !== 0) {
    console.error(`\n${[cmd, ...args].join(" ")} failed (exit ${res.status ?? res.signal})`);
    process.exit(res.status || 1);
  }
}

export function prepare() {
  if (!existsSync(join(root, "node_modules", ".bin", "tsc"))) {
    step("npm", ["ci", "--no-audit", "--no-fund"]);
  }
  step(process.execPath, [
    join(root, "node_modules", "typescript", "bin", "tsc"),
    "-p",
    "tsconfig.json",
  ]);
  step(process.execPath, [join(root, "scripts", "build-dashboard.mjs")]);
}

/**
 * Debian's Chromium for the dashboard's browser tests and benchmark (playwright-core drives it;
 * `npx playwright install` cannot download here). Installed once, with a fresh package list only
 * when the first try fails.
 */
export function ensureChromium() {
  if (existsSync("/usr/bin/chromium")) return;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = () =>
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], {
      stdio: "inherit",
      env,
    }).status === 0;
  console.log("installing Debian's chromium (for the dashboard's browser tests)");
  if (install()) return;
  step("apt-get", ["update"], { env });
  if (!install()) {
    console.error("apt-get install chromium failed: install it by hand (apt-get install chromium)");
    process.exit(1);
  }
}
