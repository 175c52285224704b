// `vm-ctl doctor`: what this host can run and why — the VMM and accelerator it gets, each tool,
// root for bridge networking, base images, supervision — with the fix for anything missing.
import { accessSync, constants, existsSync } from "node:fs";
import { join } from "node:path";
import type { Check } from "../host/doctor.js";
import { run } from "../sys/exec.js";
import { detectPlatform } from "../sys/platform.js";
import type { MicrovmEnv } from "./env.js";
import { HOST_PACKAGES } from "./prepare.js";
import { chooseVmm, findFirecracker, kvmState, which } from "./select.js";
import { systemdRuns } from "./units.js";
import { QEMU_BINARY } from "./vmm/qemu.js";

const PREPARE = "run `vm-ctl prepare` as root";

function tool(
  requirement: string,
  binary: string,
  pkg: string,
  status: "missing" | "warn" = "missing",
): Check {
  const path = which(binary);
  return {
    requirement,
    status: path ? "ok" : status,
    detail: path
      ? `${path} (${HOST_PACKAGES[pkg] ?? pkg})`
      : `no ${binary} (Debian package ${pkg})`,
    fix: path ? "" : PREPARE,
  };
}

/** Every check; the first one names the VMM this host gets and why. */
export async function microvmDoctor(env: MicrovmEnv, builtKernel?: string): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    const c = await chooseVmm(env, { vmm: "auto", accel: "auto" }, builtKernel);
    checks.push({
      requirement: "vmm",
      status: c.accel === "tcg" ? "warn" : "ok",
      detail: c.why,
      fix: c.accel === "tcg" ? "for native speed: a host with hardware KVM (and Firecracker)" : "",
    });
  } catch (err) {
    checks.push({
      requirement: "vmm",
      status: "missing",
      detail: (err as Error).message,
      fix: PREPARE,
    });
  }
  const fc = findFirecracker();
  let fcVersion = "";
  if (fc) fcVersion = (await run(fc, ["--version"])).stdout.split("\n")[0] ?? "";
  checks.push({
    requirement: "firecracker",
    status: fc ? "ok" : "warn",
    detail: fc
      ? `${fc} ${fcVersion}`.trim()
      : "not installed (not in Debian; FIRECRACKER_BIN, /usr/local/bin/firecracker or PATH)",
    fix: fc
      ? ""
      : "optional: install a release binary as /usr/local/bin/firecracker on a host with KVM",
  });
  const kvm = await kvmState(env, builtKernel);
  checks.push({
    requirement: "kvm",
    status: kvm.usable ? "ok" : "warn",
    detail: kvm.detail,
    fix: kvm.usable ? "" : "enable hardware virtualisation (or nested KVM) for native speed",
  });
  const qemu = which(process.env.QEMU_BIN || QEMU_BINARY);
  const qv = qemu ? (await run(qemu, ["--version"])).stdout.split("\n")[0] : "";
  checks.push({
    requirement: "qemu",
    status: qemu ? "ok" : "missing",
    detail: qemu ? `${qemu}: ${qv}` : `no ${QEMU_BINARY}`,
    fix: qemu ? "" : PREPARE,
  });
  checks.push(tool("qemu-img", "qemu-img", "qemu-utils"));
  const root = detectPlatform().isRoot;
  checks.push({
    requirement: "root",
    status: root ? "ok" : "warn",
    detail: root
      ? "root: bridge networking (bridge, TAPs, NAT) is possible"
      : "not root: only --network user works",
    fix: root ? "" : "run as root (sudo) for bridge networking",
  });
  checks.push(
    tool("ip", "ip", "iproute2"),
    tool("bridge", "bridge", "iproute2"),
    tool("iptables", "iptables", "iptables"),
  );
  let tun: boolean;
  try {
    accessSync("/dev/net/tun", constants.R_OK | constants.W_OK);
    tun = true;
  } catch {
    tun = false;
  }
  checks.push({
    requirement: "tun",
    status: tun ? "ok" : "missing",
    detail: tun ? "/dev/net/tun opens" : "no usable /dev/net/tun",
    fix: tun ? "" : "load the tun module (modprobe tun)",
  });
  checks.push(
    tool("ssh", "ssh", "openssh-client"),
    tool("ssh-keygen", "ssh-keygen", "openssh-client"),
  );
  checks.push(
    tool("mkfs.ext4", "mkfs.ext4", "e2fsprogs"),
    tool("debootstrap", "debootstrap", "debootstrap", "warn"),
    tool("cpio", "cpio", "cpio", "warn"),
    tool("depmod", "depmod", "kmod", "warn"),
  );
  const own = ["vmlinux", "rootfs.ext4", "initrd.img"].filter((f) =>
    existsSync(join(env.baseImagesDir, f)),
  );
  checks.push({
    requirement: "base images",
    status: "ok",
    detail: own.length
      ? `BASE_IMAGES_DIR ${env.baseImagesDir} has ${own.join(", ")}; the rest is built into ${env.imageCache}`
      : `built from Debian and npm into ${env.imageCache} (cached by content)`,
    fix: "",
  });
  const sd = systemdRuns();
  checks.push({
    requirement: "supervision",
    status: "ok",
    detail: sd
      ? "systemd: units firecracker-vmdemo-<id> and vmdemo-proxy-<id>"
      : "no systemd: vmdemo's own supervisor (restarts crashed VMs); run `vm-ctl boot` at host start (e.g. @reboot in root's crontab)",
    fix: "",
  });
  const where = [env.stateRoot, env.fcRoot];
  const blocked = where.filter((d) => {
    let dir = d;
    while (!existsSync(dir)) dir = join(dir, "..");
    try {
      accessSync(dir, constants.W_OK);
      return false;
    } catch {
      return true;
    }
  });
  checks.push({
    requirement: "state",
    status: blocked.length ? "missing" : "ok",
    detail: blocked.length
      ? `cannot write ${blocked.join(", ")}`
      : `STATE_ROOT ${env.stateRoot}, FC_ROOT ${env.fcRoot}`,
    fix: blocked.length ? "run as root, or set STATE_ROOT / FC_ROOT to writable folders" : "",
  });
  return checks;
}
