// Which VMM and accelerator a host gets, and why: Firecracker when its binary is there and KVM
// works; otherwise QEMU, with KVM when it works and software emulation (TCG) when it does not.
// "KVM works" is tested by booting the guest kernel under KVM once per host boot.
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import { VmdError } from "../errors.js";
import { run } from "../sys/exec.js";
import type { MicrovmEnv } from "./env.js";
import { writePrivate } from "./envfile.js";
import { QEMU_BINARY } from "./vmm/qemu.js";

export interface KvmState {
  usable: boolean;
  detail: string;
}

export interface VmmChoice {
  vmm: "qemu" | "firecracker";
  accel: "kvm" | "tcg";
  /** One sentence: why this VMM and accelerator. */
  why: string;
}

/** On PATH, or null. */
export function which(binary: string, path = process.env.PATH ?? ""): string | null {
  if (binary.includes("/")) return existsSync(binary) ? binary : null;
  for (const dir of path.split(delimiter)) {
    const f = join(dir, binary);
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      // not here
    }
  }
  return null;
}

/** The Firecracker binary: FIRECRACKER_BIN, the seed's /usr/local/bin/firecracker, or PATH. */
export function findFirecracker(env = process.env): string | null {
  if (env.FIRECRACKER_BIN) return which(env.FIRECRACKER_BIN);
  return which("/usr/local/bin/firecracker") ?? which("firecracker");
}

function bootId(): string {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return "unknown";
  }
}

/**
 * Whether KVM can run a guest here: /dev/kvm must open read-write, and (when a kernel is given)
 * that kernel must boot under `qemu -accel kvm` far enough to look for its init. The boot test is
 * remembered per host boot in the image cache.
 */
export async function kvmState(env: MicrovmEnv, kernel?: string): Promise<KvmState> {
  if (!existsSync("/dev/kvm")) return { usable: false, detail: "there is no /dev/kvm" };
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, detail: "/dev/kvm is not readable and writable by this user" };
  }
  if (!kernel)
    return { usable: true, detail: "/dev/kvm opens (no guest kernel yet to test it with)" };
  const memo = join(env.imageCache, "kvm-probe.json");
  const key = `${bootId()} ${kernel}`;
  if (existsSync(memo)) {
    const m = JSON.parse(readFileSync(memo, "utf8")) as { key: string; state: KvmState };
    if (m.key === key) return m.state;
  }
  const state = await probeKvm(kernel);
  writePrivate(memo, JSON.stringify({ key, state }), 0o644);
  return state;
}

/** Boots `kernel` under KVM with no init: reaching "Run ... as init" proves the CPU side works. */
async function probeKvm(kernel: string): Promise<KvmState> {
  const res = await run(
    QEMU_BINARY,
    [
      "-machine",
      "microvm,pit=on,pic=on,rtc=on",
      "-accel",
      "kvm",
      "-cpu",
      "host",
      "-m",
      "256",
      "-nodefaults",
      "-no-user-config",
      "-nographic",
      "-no-reboot",
      "-serial",
      "stdio",
      "-kernel",
      kernel,
      "-append",
      "console=ttyS0 panic=-1 pci=off rdinit=/vmdemo-kvm-probe init=/vmdemo-kvm-probe",
    ],
    { timeoutMs: 30_000 },
  );
  const out = `${res.stdout}\n${res.stderr}`;
  if (/Kernel panic - not syncing: (No working init|VFS)/.test(out))
    return { usable: true, detail: "a guest kernel boots under KVM" };
  const why = out.trim().split("\n").filter(Boolean).at(-1) ?? `exit ${res.code}`;
  return {
    usable: false,
    detail: `/dev/kvm exists but a guest kernel does not boot under it (${why.slice(0, 120)})`,
  };
}

/**
 * Picks VMM and accelerator for the requested ones (`auto` = the best this host can run).
 * @throws VmdError err_vmm_unavailable when the requested one cannot run here
 */
export async function chooseVmm(
  env: MicrovmEnv,
  want: { vmm: "auto" | "qemu" | "firecracker"; accel: "auto" | "kvm" | "tcg" },
  kernel?: string,
): Promise<VmmChoice> {
  const fc = findFirecracker();
  const kvm = await kvmState(env, kernel);
  const qemu = which(process.env.QEMU_BIN || QEMU_BINARY);
  if (want.vmm === "firecracker") {
    if (!fc)
      throw new VmdError(
        "err_vmm_unavailable",
        "no firecracker binary (FIRECRACKER_BIN, /usr/local/bin/firecracker or PATH)",
        "install Firecracker from its releases, or use --vmm qemu",
      );
    if (!kvm.usable)
      throw new VmdError(
        "err_vmm_unavailable",
        `Firecracker needs KVM: ${kvm.detail}`,
        "use --vmm qemu (software emulation works)",
      );
    if (want.accel === "tcg")
      throw new VmdError(
        "err_bad_flag",
        "Firecracker runs only with KVM",
        "drop --accel tcg, or use --vmm qemu",
      );
    return { vmm: "firecracker", accel: "kvm", why: `Firecracker ${fc} with KVM (${kvm.detail})` };
  }
  if (want.vmm === "auto" && fc && kvm.usable && want.accel !== "tcg")
    return { vmm: "firecracker", accel: "kvm", why: `Firecracker ${fc} with KVM (${kvm.detail})` };
  if (!qemu)
    throw new VmdError(
      "err_vmm_unavailable",
      `no ${QEMU_BINARY}${fc ? "" : " and no firecracker"}`,
      "run `vm-ctl prepare` as root (installs qemu-system-x86), or install Firecracker where KVM works",
    );
  const noFc =
    want.vmm === "qemu"
      ? "QEMU was asked for"
      : fc
        ? `Firecracker needs KVM, and ${kvm.detail}`
        : "no firecracker binary is installed";
  if (want.accel === "kvm" && !kvm.usable)
    throw new VmdError(
      "err_vmm_unavailable",
      `--accel kvm: ${kvm.detail}`,
      "drop --accel (software emulation is used)",
    );
  if (want.accel !== "tcg" && kvm.usable)
    return { vmm: "qemu", accel: "kvm", why: `QEMU with KVM (${noFc})` };
  return {
    vmm: "qemu",
    accel: "tcg",
    why: `QEMU with software emulation (TCG, ~13-15x slower than native): ${noFc}${want.accel === "tcg" ? "; TCG was asked for" : kvm.usable ? "" : `; no KVM: ${kvm.detail}`}`,
  };
}
