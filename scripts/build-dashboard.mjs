// The dashboard's production build (part of `npm run build`): type-check the front-end, then
// bundle and minify it with esbuild into dist/dashboard (app.js, app.css, index.html). The
// page loads nothing from outside the dashboard's own server.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { root } from "./prepare.mjs";

const web = join(root, "src", "dashboard", "web");
const out = join(root, "dist", "dashboard");

const check = spawnSync(
  process.execPath,
  [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(web, "tsconfig.json")],
  { stdio: "inherit" },
);
if (check.status !== 0) process.exit(check.status ?? 1);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(web, "main.tsx") },
  outdir: out,
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "linked",
  logLevel: "warning",
});
copyFileSync(join(web, "index.html"), join(out, "index.html"));
