// `vm-ctl prepare`: installs the host packages microVM bots need (Debian, as root) and builds the
// base images, both idempotently; `npm test` runs it so a fresh CI machine gets everything.
import { errorMessage, VmdError } from "../errors.js";
import type { Progress } from "../progress.js";
import { OPENCLAW_VERSION } from "../runtime/images/sources.js";
import { ensurePackages, missingPackages } from "../sys/apt.js";
import { cannotInstallReason, detectPlatform } from "../sys/platform.js";
import type { MicrovmEnv } from "./env.js";
import { resolveBaseImages, type BaseImages } from "./images/base.js";

/** Debian packages the host side uses, with what for. */
export const HOST_PACKAGES: Record<string, string> = {
  "qemu-system-x86": "the QEMU VMM (qemu-system-x86_64)",
  "qemu-utils": "qemu-img: per-instance qcow2 disks and their snapshots",
  iproute2: "ip and bridge: the bridge, TAPs and port isolation",
  iptables: "NAT for the guests' outbound traffic",
  e2fsprogs: "mkfs.ext4 -d: root filesystem and seed images",
  "openssh-client": "ssh and ssh-keygen: provisioning and vm-ctl shell",
  debootstrap: "the guest's Debian root filesystem",
  cpio: "the guest's initramfs",
  kmod: "depmod/modprobe: the kernel modules the initramfs loads",
  "xz-utils": "unpacking the guest kernel",
};

export interface PrepareReport {
  installed: string[];
  images: BaseImages | null;
}

/**
 * Installs missing host packages and builds (or finds cached) base images.
 * @throws VmdError err_host_install when packages are missing and cannot be installed here
 */
export async function prepareHost(
  env: MicrovmEnv,
  o: { images: boolean; browser: boolean },
  progress: Progress,
): Promise<PrepareReport> {
  const task = progress.task("host packages");
  const names = Object.keys(HOST_PACKAGES);
  const missing = await missingPackages(names);
  let installed: string[] = [];
  if (missing.length) {
    const cannot = cannotInstallReason(detectPlatform());
    if (cannot) {
      task.fail(`missing: ${missing.join(", ")}`);
      throw new VmdError("err_host_install", `missing host packages: ${missing.join(" ")}`, cannot);
    }
    try {
      installed = await ensurePackages(missing, (l) => task.update(l.slice(0, 60)));
    } catch (err) {
      task.fail(errorMessage(err));
      throw err;
    }
    task.done(`installed ${installed.join(", ")}`);
  } else task.done("all present");
  const images = o.images
    ? await resolveBaseImages(
        env,
        { browser: o.browser, openclawVersion: OPENCLAW_VERSION },
        progress,
      )
    : null;
  return { installed, images };
}
