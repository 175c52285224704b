import { existsSync, readFileSync, writeFileSync } from "node:fs";

const IO_URING_SYSCTL = "/proc/sys/kernel/io_uring_disabled";

/** kernel.io_uring_disabled: 0 allowed, 1 only privileged (CAP_SYS_ADMIN), 2 off; null when the kernel has no such switch. */
export function ioUringDisabled(): number | null {
  return existsSync(IO_URING_SYSCTL) ? Number(readFileSync(IO_URING_SYSCTL, "utf8").trim()) : null;
}

export function setIoUringDisabled(value: 1 | 2): void {
  writeFileSync(IO_URING_SYSCTL, `${value}\n`);
}

/** Whether this process holds CAP_SYS_RESOURCE (bit 24 of CapEff), which CRIU needs to read a non-root task's rlimits. */
export function hasCapSysResource(): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(
    existsSync("/proc/self/status") ? readFileSync("/proc/self/status", "utf8") : "",
  );
  return m ? (BigInt(`0x${m[1]}`) & (1n << 24n)) !== 0n : false;
}
