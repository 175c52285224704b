// The guest kernel from Debian's `linux-image-amd64`: downloaded and unpacked (never installed on
// the host), booted as the uncompressed `vmlinux` (PVH entry; HOST-NOTES). Debian builds virtio and
// ext4 as modules, so the kernel comes with the module list the initramfs loads.
import { spawn } from "node:child_process";
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import type { Task } from "../../progress.js";
import { run, runOrThrow } from "../../sys/exec.js";

/** Modules the guest needs before its root filesystem is mounted, and the power button (ACPI button and the evdev events systemd-logind and the test guest read). */
export const INITRD_MODULES = [
  "virtio_mmio",
  "virtio_blk",
  "virtio_net",
  "ext4",
  "virtio_rng",
  "button",
  "evdev",
];

export interface KernelPackage {
  /** e.g. linux-image-6.1.0-50-amd64 */
  name: string;
  /** e.g. 6.1.176-1 */
  version: string;
  /** e.g. 6.1.0-50-amd64 */
  release: string;
}

const APT_HINT = "run `apt-get update`, or check that Debian's mirror is reachable";

/** The versioned package `linux-image-amd64` currently points at (from apt's lists). */
export async function currentKernelPackage(): Promise<KernelPackage> {
  const show = async () => run("apt-cache", ["show", "--no-all-versions", "linux-image-amd64"]);
  let res = await show();
  if (res.code !== 0 || !/^Depends:/m.test(res.stdout)) {
    await run("apt-get", ["update"]);
    res = await show();
  }
  const dep = /^Depends:\s*(linux-image-([\w.+-]+?))(?:\s|,|$)/m.exec(res.stdout);
  const version = /^Version:\s*(\S+)/m.exec(res.stdout)?.[1];
  if (!dep || !version)
    throw new VmdError("err_image_build", "apt knows no linux-image-amd64 package", APT_HINT);
  return { name: dep[1]!, release: dep[2]!, version };
}

/** Offsets of compressed streams inside a bzImage, by the magic bytes of each format. */
const MAGICS: { tool: string; args: string[]; magic: Buffer }[] = [
  {
    tool: "xz",
    args: ["-dc", "--single-stream"],
    magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]),
  },
  { tool: "zstd", args: ["-dc"], magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { tool: "gzip", args: ["-dc"], magic: Buffer.from([0x1f, 0x8b, 0x08]) },
];

function decompressTo(tool: string, args: string[], input: Buffer, out: string): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(tool, args, { stdio: ["pipe", "pipe", "ignore"] });
    const file = createWriteStream(out);
    child.stdout.pipe(file);
    child.on("error", () => resolve());
    child.stdin.on("error", () => {});
    file.on("close", () => resolve());
    child.stdin.end(input);
  });
}

function isElf(file: string): boolean {
  if (!existsSync(file)) return false;
  const head = readFileSync(file).subarray(0, 4);
  return head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
}

/**
 * Extracts the ELF `vmlinux` from a compressed `vmlinuz` (what the kernel's extract-vmlinux
 * script does): tries every compressed stream found by its magic until one yields an ELF.
 * @throws VmdError err_image_build
 */
export async function extractVmlinux(vmlinuz: string, out: string): Promise<void> {
  const image = readFileSync(vmlinuz);
  for (const { tool, args, magic } of MAGICS) {
    for (let at = image.indexOf(magic); at >= 0; at = image.indexOf(magic, at + 1)) {
      await decompressTo(tool, args, image.subarray(at), out);
      if (isElf(out)) return;
    }
  }
  rmSync(out, { force: true });
  throw new VmdError(
    "err_image_build",
    `no ELF kernel found inside ${vmlinuz}`,
    "install xz-utils, or pass your own uncompressed kernel with --base-kernel",
  );
}

export interface UnpackedKernel {
  pkg: KernelPackage;
  vmlinux: string;
  /** Module files for the initramfs, in load order (dependencies first). */
  modules: string[];
  /** The unpacked package; remove it once the initramfs is built. */
  tree: string;
}

/**
 * Downloads `pkg` into `dir`, unpacks it, extracts `vmlinux` and resolves `INITRD_MODULES` with
 * their dependencies (depmod on the unpacked tree, then `modprobe --show-depends`).
 */
export async function unpackKernel(
  pkg: KernelPackage,
  dir: string,
  vmlinux: string,
  task: Task,
): Promise<UnpackedKernel> {
  mkdirSync(dir, { recursive: true });
  let deb = readdirSync(dir).find((f) => f.startsWith(`${pkg.name}_`) && f.endsWith(".deb"));
  if (!deb) {
    task.update(`apt-get download ${pkg.name}`, 0.05);
    await runOrThrow("apt-get", ["download", pkg.name], `downloading ${pkg.name}`, APT_HINT, {
      cwd: dir,
    });
    deb = readdirSync(dir).find((f) => f.startsWith(`${pkg.name}_`) && f.endsWith(".deb"));
    if (!deb) throw new VmdError("err_image_build", `${pkg.name} was not downloaded`, APT_HINT);
  }
  const tree = join(dir, "root");
  task.update("unpacking the kernel package", 0.2);
  rmSync(tree, { recursive: true, force: true });
  await runOrThrow("dpkg-deb", ["-x", join(dir, deb), tree], "unpacking the kernel", APT_HINT);
  task.update("extracting vmlinux", 0.3);
  await extractVmlinux(join(tree, "boot", `vmlinuz-${pkg.release}`), vmlinux);
  task.update("resolving modules", 0.4);
  const kmodHint = "install kmod (apt-get install kmod)";
  await runOrThrow("depmod", ["-b", tree, pkg.release], "depmod", kmodHint);
  const modules: string[] = [];
  for (const m of INITRD_MODULES) {
    const res = await runOrThrow(
      "modprobe",
      ["-d", tree, "-S", pkg.release, "--show-depends", m],
      `resolving module ${m}`,
      kmodHint,
    );
    for (const line of res.stdout.split("\n")) {
      const file = /^insmod (\S+)/.exec(line.trim())?.[1];
      if (file && !modules.includes(file)) modules.push(file);
    }
  }
  rmSync(join(dir, deb), { force: true });
  return { pkg, vmlinux, modules, tree };
}
