// The vmdemo initramfs: Debian's static busybox, the kernel modules the guest needs before its
// root filesystem (virtio, ext4) and images/microvm/initrd-init, packed as a gzip'd newc cpio.
import { spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  createWriteStream,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { basename, join, relative } from "node:path";
import { createGzip } from "node:zlib";
import { VmdError } from "../../errors.js";

function walk(dir: string, root = dir): string[] {
  const out = [relative(root, dir) || "."];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, root));
    else out.push(relative(root, p));
  }
  return out;
}

/** Packs the folder `dir` as a gzip'd newc cpio archive at `out` (what the kernel unpacks). */
export function packCpio(dir: string, out: string): Promise<void> {
  const tmp = `${out}.part`;
  return new Promise((resolve, reject) => {
    const cpio = spawn("cpio", ["--quiet", "-o", "-H", "newc", "-R", "0:0"], {
      cwd: dir,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let err = "";
    cpio.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const file = createWriteStream(tmp, { mode: 0o644 });
    cpio.stdout.pipe(createGzip({ level: 6 })).pipe(file);
    cpio.on("error", (e) =>
      reject(new VmdError("err_image_build", `cpio: ${e.message}`, "install cpio")),
    );
    let code: number | null = null;
    cpio.on("close", (c) => (code = c));
    file.on("close", () => {
      if (code !== 0)
        return reject(
          new VmdError("err_image_build", `cpio failed: ${err.trim()}`, "install cpio"),
        );
      renameSync(tmp, out);
      resolve();
    });
    cpio.stdin.end(`${walk(dir).join("\n")}\n`);
  });
}

/**
 * Builds the initramfs at `out` from `busybox` (a static binary), `modules` (load order) and the
 * `init` script, in the staging folder `stage` (removed afterwards).
 */
export async function buildInitrd(opts: {
  busybox: string;
  modules: string[];
  init: string;
  stage: string;
  out: string;
}): Promise<void> {
  const { stage } = opts;
  rmSync(stage, { recursive: true, force: true });
  for (const d of ["bin", "dev", "proc", "sys", "newroot", "lib/modules"])
    mkdirSync(join(stage, d), { recursive: true });
  copyFileSync(opts.busybox, join(stage, "bin", "busybox"));
  chmodSync(join(stage, "bin", "busybox"), 0o755);
  copyFileSync(opts.init, join(stage, "init"));
  chmodSync(join(stage, "init"), 0o755);
  opts.modules.forEach((m, i) => {
    if (!statSync(m).isFile()) throw new VmdError("err_image_build", `${m} is missing`, "rebuild");
    // The numeric prefix keeps the load order for the init's `for m in *.ko`.
    copyFileSync(m, join(stage, "lib", "modules", `${String(i).padStart(2, "0")}-${basename(m)}`));
  });
  await packCpio(stage, opts.out);
  rmSync(stage, { recursive: true, force: true });
}
