// npm test: build, set up the host (engine, CRIU 4, Redis), the images and what microVM bots need
// (QEMU and the other host packages, the guest kernel, initramfs and root filesystem), then run
// every test. Idempotent: a second run reuses the engine, CRIU and images.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { cli, ensureChromium, prepare, root, step } from "./prepare.mjs";

prepare();
ensureChromium();
step(process.execPath, [cli, "host", "setup"]);
step(process.execPath, [cli, "images", "build"]);
step(process.execPath, [join(root, "dist", "src", "cli", "vm-ctl.js"), "prepare"]);

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? testFiles(join(dir, e.name))
      : e.name.endsWith(".test.js")
        ? [join(dir, e.name)]
        : [],
  );
}
// OpenClaw in a microVM under software emulation (~20 min here) runs last and alone: it needs both
// cores, and beside another test its gateway's model call outlived OpenClaw's 60 s worker timeout.
const alone = ["dist/test/microvm/openclaw-vm.test.js"];
const files = testFiles(join(root, "dist", "test"))
  .sort()
  .map((f) => relative(root, f))
  .filter((f) => !alone.includes(f));
const run = (args) =>
  spawnSync(process.execPath, ["--test", ...args], { cwd: root, stdio: "inherit" });
const res = run(["--test-concurrency=2", ...files]);
const last = run(alone);
process.exit(res.status === 0 && last.status === 0 ? 0 : 1);
