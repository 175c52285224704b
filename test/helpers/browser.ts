import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

/** Debian's Chromium, installed by scripts/prepare.mjs (ensureChromium). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * Flags that keep Chromium off the network but loopback (see HOST-NOTES.md): without the
 * background-networking ones it keeps trying hosts this machine cannot reach.
 */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Real Chromium through playwright-core; Playwright gives it a fresh, empty --user-data-dir. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}

/** Signs in on the dashboard's login form as a person would. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.fill("#token", token);
  await Promise.all([page.waitForURL(`${url}/`), page.click("button[type=submit]")]);
}

/** Where screenshots go: DASHBOARD_SCREENSHOTS (docs/dashboard updates the README's), else a temp folder. */
export function screenshotDir(): string {
  const dir = process.env.DASHBOARD_SCREENSHOTS ?? join(tmpdir(), "vmd-dashboard-screenshots");
  mkdirSync(dir, { recursive: true });
  return dir;
}
