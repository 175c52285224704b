import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DockerClient } from "../../src/runtime/docker/client.js";

const statValue = (text: string, key: string) =>
  Number(new RegExp(`^${key} (\\d+)$`, "m").exec(text)?.[1] ?? 0);

/**
 * A container's memory as `docker stats` shows it (usage minus inactive page cache), read from its
 * cgroup (v1 or v2, cgroupfs or systemd driver); the engine's stats call when none is found.
 */
export async function containerMemory(docker: DockerClient, id: string): Promise<number> {
  const full = (await docker.inspectContainer(id)).Id;
  const v1 = [
    `/sys/fs/cgroup/memory/docker/${full}`,
    `/sys/fs/cgroup/memory/system.slice/docker-${full}.scope`,
  ];
  for (const dir of v1) {
    if (!existsSync(dir)) continue;
    const usage = Number(readFileSync(join(dir, "memory.usage_in_bytes"), "utf8"));
    return usage - statValue(readFileSync(join(dir, "memory.stat"), "utf8"), "total_inactive_file");
  }
  const v2 = [`/sys/fs/cgroup/docker/${full}`, `/sys/fs/cgroup/system.slice/docker-${full}.scope`];
  for (const dir of v2) {
    if (!existsSync(dir)) continue;
    const usage = Number(readFileSync(join(dir, "memory.current"), "utf8"));
    return usage - statValue(readFileSync(join(dir, "memory.stat"), "utf8"), "inactive_file");
  }
  const stats = await docker.stats(full);
  const m = stats.memory_stats as { usage?: number; stats?: Record<string, number> };
  return (m.usage ?? 0) - (m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? 0);
}
