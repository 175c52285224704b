// Base images for new instances: a user's own (--base-kernel/--base-rootfs/--base-initrd, or
// vmlinux/rootfs.ext4/initrd.img in BASE_IMAGES_DIR), else images built here and cached by the
// hash of everything that went into them, so a second run reuses them.
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import { packageRoot } from "../../package-root.js";
import type { Progress } from "../../progress.js";
import { hashParts } from "../../runtime/images/inputs.js";
import {
  busyboxBinary,
  nodeBinary,
  NODE_VERSION,
  openclawPackage,
  ROOTFS_SUITE,
} from "../../runtime/images/sources.js";
import { debianMirror } from "../../sys/apt.js";
import type { MicrovmEnv } from "../env.js";
import { writePrivate } from "../envfile.js";
import { withLock } from "../lock.js";
import { buildInitrd } from "./initrd.js";
import { currentKernelPackage, INITRD_MODULES, unpackKernel } from "./kernel.js";
import { BROWSER_PACKAGES, buildRootfs, GUEST_PACKAGES } from "./rootfs.js";

/** Bumped when the way images are made changes in a way their inputs do not show. */
const RECIPE = "vmdemo-images-1";

export interface BaseImages {
  kernel: string;
  initrd: string | null;
  rootfs: string;
  /** Where each came from, for `vm-ctl doctor` and the instance record. */
  source: { kernel: "flag" | "dir" | "built"; rootfs: "flag" | "dir" | "built" };
  /** Bundled skills of the OpenClaw in a built rootfs; null for a user's own rootfs. */
  skills: string[] | null;
  /** The OpenClaw release in a built rootfs; null for a user's own. */
  openclawVersion: string | null;
  browser: boolean | null;
}

export interface ImageRequest {
  baseKernel?: string;
  baseRootfs?: string;
  baseInitrd?: string;
  browser: boolean;
  openclawVersion: string;
}

export function guestFilesDir(): string {
  return join(packageRoot(), "images", "microvm");
}

function guestFileDigests(): string[] {
  const dir = guestFilesDir();
  return readdirSync(dir)
    .sort()
    .flatMap((f) => [f, readFileSync(join(dir, f), "utf8")]);
}

/** True when `file` starts like an ELF binary (a kernel). */
function isElf(file: string): boolean {
  return readHead(file, 0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
}

/** True when `file` has the ext2/3/4 superblock magic 0xEF53 at byte 1080. */
export function isExt4(file: string): boolean {
  return readHead(file, 1080, 2).equals(Buffer.from([0x53, 0xef]));
}

function readHead(file: string, at: number, n: number): Buffer {
  const buf = Buffer.alloc(n);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, n, at);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/**
 * Checks the images a user named, before anything is created.
 * @throws VmdError err_bad_flag with the flag and the fix
 */
export function checkUserImages(req: ImageRequest): void {
  const need = (
    flag: string,
    file: string | undefined,
    test: (f: string) => boolean,
    what: string,
  ) => {
    if (file === undefined) return;
    if (!existsSync(file))
      throw new VmdError(
        "err_bad_flag",
        `${flag} ${file} does not exist`,
        `pass the path of ${what}, or leave ${flag} out to use the built one`,
      );
    if (!test(file))
      throw new VmdError("err_bad_flag", `${flag} ${file} is not ${what}`, `pass ${what}`);
  };
  need("--base-kernel", req.baseKernel, isElf, "an uncompressed kernel (vmlinux, ELF)");
  need("--base-rootfs", req.baseRootfs, isExt4, "an ext4 filesystem image");
  need("--base-initrd", req.baseInitrd, () => true, "an initrd");
}

interface Manifest {
  skills?: string[];
}

function readManifest(dir: string): Manifest | null {
  const f = join(dir, "manifest.json");
  return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as Manifest) : null;
}

/** The kernel and initramfs built from Debian's current linux-image-amd64 (cached). */
export async function builtKernel(
  env: MicrovmEnv,
  progress: Progress,
): Promise<{ vmlinux: string; initrd: string }> {
  const task = progress.task("guest kernel");
  const pkg = await currentKernelPackage();
  const initInput = readFileSync(join(guestFilesDir(), "initrd-init"), "utf8");
  const key = hashParts([RECIPE, pkg.name, pkg.version, initInput, ...INITRD_MODULES]).slice(0, 16);
  const dir = join(env.imageCache, `kernel-${pkg.release}-${key}`);
  const out = { vmlinux: join(dir, "vmlinux"), initrd: join(dir, "initrd.img") };
  return withLock(`${dir}.lock`, async () => {
    if (readManifest(dir) && existsSync(out.vmlinux) && existsSync(out.initrd)) {
      task.done(`cached (${pkg.name} ${pkg.version})`);
      return out;
    }
    const work = join(dir, "work");
    const k = await unpackKernel(pkg, work, out.vmlinux, task);
    task.update("packing the initramfs", 0.6);
    const busybox = await busyboxBinary(join(env.vmdockerHome, "cache"), task);
    await buildInitrd({
      busybox: busybox.path,
      modules: k.modules,
      init: join(guestFilesDir(), "initrd-init"),
      stage: join(dir, "initrd-stage"),
      out: out.initrd,
    });
    rmSync(work, { recursive: true, force: true });
    writePrivate(
      join(dir, "manifest.json"),
      JSON.stringify({ pkg, modules: k.modules.length }),
      0o644,
    );
    task.done(`${pkg.name} ${pkg.version}: vmlinux + initramfs (${k.modules.length} modules)`);
    return out;
  });
}

/** The root filesystem for `req` (browser or not, OpenClaw version), built once per content. */
async function builtRootfs(env: MicrovmEnv, req: ImageRequest, progress: Progress) {
  const task = progress.task(`guest root filesystem${req.browser ? " (with Chromium)" : ""}`);
  const packages = [...GUEST_PACKAGES, ...(req.browser ? BROWSER_PACKAGES : [])];
  const key = hashParts([
    RECIPE,
    ROOTFS_SUITE,
    ...packages,
    NODE_VERSION,
    req.openclawVersion,
    ...guestFileDigests(),
  ]).slice(0, 16);
  const dir = join(env.imageCache, `rootfs-${key}`);
  const rootfs = join(dir, "rootfs.ext4");
  return withLock(`${dir}.lock`, async () => {
    const cached = readManifest(dir);
    if (cached?.skills && existsSync(rootfs)) {
      task.done(`cached (OpenClaw ${req.openclawVersion})`);
      return { rootfs, skills: cached.skills };
    }
    const node = await nodeBinary(join(env.vmdockerHome, "cache"), task);
    const tar = await openclawPackage(join(env.vmdockerHome, "cache"), task, req.openclawVersion);
    const skills = await buildRootfs(
      {
        mirror: debianMirror(),
        browser: req.browser,
        nodeBinary: node,
        openclawTar: tar,
        guestFiles: guestFilesDir(),
      },
      join(dir, "tree"),
      rootfs,
      task,
    );
    writePrivate(
      join(dir, "manifest.json"),
      JSON.stringify({ packages, node: NODE_VERSION, openclaw: req.openclawVersion, skills }),
      0o644,
    );
    task.done(`Debian ${ROOTFS_SUITE}, Node ${NODE_VERSION}, OpenClaw ${req.openclawVersion}`);
    return { rootfs, skills };
  });
}

/**
 * Resolves (and, for what the user did not supply, builds or reuses) the base images.
 * @throws VmdError err_image_build when building fails
 */
export async function resolveBaseImages(
  env: MicrovmEnv,
  req: ImageRequest,
  progress: Progress,
): Promise<BaseImages> {
  const inDir = (name: string) => {
    const f = join(env.baseImagesDir, name);
    return existsSync(f) ? f : undefined;
  };
  const dirKernel = req.baseKernel ? undefined : inDir("vmlinux");
  const kernelSource = req.baseKernel ? "flag" : dirKernel ? "dir" : "built";
  let kernel = req.baseKernel ?? dirKernel;
  let initrd: string | null = req.baseInitrd ?? (dirKernel ? (inDir("initrd.img") ?? null) : null);
  if (!kernel) {
    const built = await builtKernel(env, progress);
    kernel = built.vmlinux;
    initrd = req.baseInitrd ?? built.initrd;
  }
  const dirRootfs = req.baseRootfs ? undefined : inDir("rootfs.ext4");
  const rootfsSource = req.baseRootfs ? "flag" : dirRootfs ? "dir" : "built";
  let rootfs = req.baseRootfs ?? dirRootfs;
  let skills: string[] | null = null;
  if (!rootfs) {
    const built = await builtRootfs(env, req, progress);
    rootfs = built.rootfs;
    skills = built.skills;
  }
  const builtRoot = rootfsSource === "built";
  return {
    kernel,
    initrd,
    rootfs,
    source: { kernel: kernelSource, rootfs: rootfsSource },
    skills,
    openclawVersion: builtRoot ? req.openclawVersion : null,
    browser: builtRoot ? req.browser : null,
  };
}
