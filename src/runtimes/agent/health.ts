import { existsSync, readFileSync, statfsSync } from "node:fs";
import { freemem, totalmem } from "node:os";
import type { HealthReport } from "./wire.js";

const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8").trim() : undefined);

/** Container-wide CPU time in µs and memory from the cgroup (v2 or v1); the process's own as a fallback. */
function cgroup(): { cpuMicros: number; memory: number; limit: number | null } {
  const v2cpu = read("/sys/fs/cgroup/cpu.stat");
  if (v2cpu) {
    const usage = Number(/usage_usec (\d+)/.exec(v2cpu)?.[1] ?? 0);
    const max = read("/sys/fs/cgroup/memory.max");
    return {
      cpuMicros: usage,
      memory: Number(read("/sys/fs/cgroup/memory.current") ?? 0),
      limit: max && max !== "max" ? Number(max) : null,
    };
  }
  const v1cpu = read("/sys/fs/cgroup/cpuacct/cpuacct.usage");
  if (v1cpu) {
    const limit = Number(read("/sys/fs/cgroup/memory/memory.limit_in_bytes") ?? 0);
    return {
      cpuMicros: Number(v1cpu) / 1000,
      memory: Number(read("/sys/fs/cgroup/memory/memory.usage_in_bytes") ?? 0),
      limit: limit > 0 && limit < 2 ** 60 ? limit : null,
    };
  }
  const u = process.cpuUsage();
  return { cpuMicros: u.user + u.system, memory: totalmem() - freemem(), limit: null };
}

/** Reports CPU (percent of one core since the last report), memory, the workspace's disk and uptime. */
export class HealthMonitor {
  private last = { at: performance.now(), cpu: cgroup().cpuMicros };

  constructor(private readonly workdir: string) {}

  report(): HealthReport {
    const now = performance.now();
    const cg = cgroup();
    const elapsedMicros = (now - this.last.at) * 1000;
    const cpuPercent =
      elapsedMicros > 0 ? ((cg.cpuMicros - this.last.cpu) / elapsedMicros) * 100 : 0;
    this.last = { at: now, cpu: cg.cpuMicros };
    let diskUsedBytes = 0;
    let diskTotalBytes = 0;
    try {
      const fs = statfsSync(this.workdir);
      diskTotalBytes = fs.blocks * fs.bsize;
      diskUsedBytes = (fs.blocks - fs.bfree) * fs.bsize;
    } catch {
      // no workspace mounted
    }
    return {
      cpuPercent: Math.max(0, Math.round(cpuPercent * 10) / 10),
      memoryBytes: cg.memory,
      memoryLimitBytes: cg.limit,
      diskUsedBytes,
      diskTotalBytes,
      uptimeSeconds: Math.round(process.uptime()),
    };
  }
}
