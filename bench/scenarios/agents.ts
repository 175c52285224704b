import { join } from "node:path";
import { HubClient } from "../../src/agents/hub-client.js";
import { startHub } from "../../src/agents/hub/start.js";
import { AgentManager, containerName } from "../../src/agents/manager.js";
import { ProfileCatalog } from "../../src/agents/profiles.js";
import { ensureProfileImage } from "../../src/agents/provision.js";
import { packageRoot } from "../../src/package-root.js";
import { silentProgress } from "../../src/progress.js";
import { RAW_PREFIX } from "../lib/context.js";
import { containerMemory } from "../lib/memory.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, summarize, timedRow } from "../lib/stats.js";

export const agentsScenario: Scenario = {
  name: "agents",
  describe:
    "docker-agent create until the agent is connected, and an exec round trip, vs docker run -d / docker exec of the same image",
  async run(ctx, emit) {
    const gateway = await ctx.docker.networkGateway("bridge");
    const hub = await startHub({
      wsPort: 0,
      httpPort: 0,
      wsHosts: ["127.0.0.1", ...(gateway ? [gateway] : [])],
      httpHost: "127.0.0.1",
      db: join(ctx.base, "hub", "hub.db"),
      tokenFile: join(ctx.base, "hub", "token"),
      log: () => {},
    });
    const profiles = new ProfileCatalog([join(packageRoot(), "profiles")]);
    const manager = new AgentManager({
      docker: ctx.docker,
      hub: new HubClient(hub.apiURL, hub.token),
      profiles,
      progress: silentProgress,
      logDir: join(ctx.base, "logs"),
    });
    const caBundle = process.env.NODE_EXTRA_CA_CERTS;
    const image = await ensureProfileImage(
      ctx.docker,
      profiles.get("builder"),
      { ...(caBundle ? { caBundle } : {}), logFile: join(ctx.base, "logs", "provision.log") },
      silentProgress.task(""),
    );
    const names: string[] = [];
    try {
      const rounds = ctx.quick ? 3 : 10;
      const row = (metric: string, s: { ours: number[]; baseline: number[] }, label: string) =>
        timedRow("agents", metric, s, label);
      emit(
        row(
          "create until connected (image cached)",
          await interleaved(
            rounds,
            async (r) => {
              const name = `bench-${r}-${Date.now() % 100000}`;
              names.push(name);
              const t = now();
              await manager.create(name, { profile: "builder", ...(caBundle ? { caBundle } : {}) });
              return now() - t;
            },
            async (r) => {
              const t = now();
              const id = await ctx.docker.createContainer({
                name: `${RAW_PREFIX}agent-${r}-${Date.now() % 100000}`,
                Image: image.reference,
                Entrypoint: ["/bin/sleep"],
                Cmd: ["infinity"],
              });
              await ctx.docker.startContainer(id);
              const ms = now() - t;
              await ctx.docker.removeContainer(id, { force: true });
              return ms;
            },
          ),
          "docker run -d of the same image (sleep)",
        ),
      );
      const target = names[0]!;
      const id = (await ctx.docker.inspectContainer(containerName(target))).Id;
      emit(
        row(
          "exec round trip",
          await interleaved(
            ctx.quick ? 10 : 50,
            async () => {
              const t = now();
              const task = await manager.exec(target, "true", { onOutput: () => {} });
              if (task.status !== "succeeded") throw new Error(`exec: ${task.status}`);
              return now() - t;
            },
            async () => {
              const t = now();
              const r = await ctx.docker.exec(id, ["true"]);
              if (r.exitCode !== 0) throw new Error("docker exec failed");
              return now() - t;
            },
          ),
          "docker exec (engine API)",
        ),
      );
      const memory = await Promise.all(
        names.map((n) => containerMemory(ctx.docker, containerName(n))),
      );
      emit({
        scenario: "agents",
        metric: `memory per idle agent (${names.length} agents)`,
        unit: "MB",
        better: "lower",
        ours: summarize(memory.map((b) => b / 2 ** 20)),
        note: "the seed claims ~50 MB",
      });
    } finally {
      for (const n of names) await manager.destroy(n, { volume: true }).catch(() => {});
      await hub.close();
    }
  },
};
