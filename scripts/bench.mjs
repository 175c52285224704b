// npm run bench: build, set up the host and the images (as npm test does), then run the harness.
import { join } from "node:path";
import { cli, ensureChromium, prepare, root, step } from "./prepare.mjs";

prepare();
ensureChromium();
step(process.execPath, [cli, "host", "setup"]);
step(process.execPath, [cli, "images", "build"]);
step(process.execPath, [join(root, "dist", "bench", "run.js"), ...process.argv.slice(2)]);
