import { criuStatus } from "../../src/host/criu.js";
import { callRuntime } from "../../src/runtime/backends/runtime-call.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { hasCapSysResource } from "../../src/sys/kernel.js";
import { parseArgv } from "../../src/vm/vmdocker/spec.js";
import {
  applyBody,
  runRaw,
  sendMessage,
  spawnProcess,
  spawnRaw,
  type BenchContext,
} from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, timedRow } from "../lib/stats.js";

async function kinds(ctx: BenchContext): Promise<("workspace" | "criu")[]> {
  const info = await ctx.docker.info();
  const criu = info.ExperimentalBuild && (await criuStatus()).works;
  return criu ? ["workspace", "criu"] : ["workspace"];
}

export const checkpointScenario: Scenario = {
  name: "checkpoint",
  describe:
    "checkpoint and restore of a running process (workspace and criu kinds), vs the engine's checkpoint create / start from a checkpoint",
  async run(ctx, emit) {
    const rounds = ctx.quick ? 2 : 8;
    // The engine's checkpoints need CRIU to read the task's limits: as this VM's criu kind does
    // on hosts without CAP_SYS_RESOURCE, the raw container runs as uid 0.
    const user = hasCapSysResource() ? undefined : "0";
    const raw = await runRaw(ctx.docker, IMAGES["runtime-test"], parseArgv(RUNTIME_START_COMMAND), {
      ...(user ? { user } : {}),
    });
    await spawnRaw(raw);
    const row = (metric: string, s: { ours: number[]; baseline: number[] }, label: string) =>
      timedRow("checkpoint", metric, s, label);
    const engineCheckpoint = async (n: number, exit: boolean) => {
      const name = `bench-${Date.now()}-${n}`;
      const t = now();
      await ctx.docker.createCheckpoint(raw.id, name, { exit });
      return { name, ms: now() - t };
    };
    let rawCount = 0;
    for (const kind of await kinds(ctx)) {
      const node = await ctx.node({ VMDOCKER_CHECKPOINT_KIND: kind });
      const pid = await spawnProcess(node, ctx.module.id);
      const proc = node.running.node;
      emit(
        row(
          `${kind} checkpoint`,
          await interleaved(
            rounds,
            async () => {
              await sendMessage(node, pid);
              const t = now();
              await proc.checkpoint(pid);
              return now() - t;
            },
            async (n) => {
              const { name, ms } = await engineCheckpoint(n, false);
              await ctx.docker.deleteCheckpoint(raw.id, name);
              return ms;
            },
          ),
          "engine checkpoint create (leave running)",
        ),
      );
      emit(
        row(
          `${kind} restore + first message`,
          await interleaved(
            rounds,
            async () => {
              await proc.stopProcess(pid);
              const t = now();
              await proc.resumeProcess(pid);
              await sendMessage(node, pid);
              return now() - t;
            },
            async (n) => {
              const { name } = await engineCheckpoint(n, true);
              const t = now();
              await ctx.docker.startContainer(raw.id, { checkpoint: name });
              const res = await callRuntime(raw.url, "apply", applyBody("bench", rawCount++));
              if (res.status !== 200) throw new Error(`apply after restore: ${res.text}`);
              const ms = now() - t;
              await ctx.docker.deleteCheckpoint(raw.id, name).catch(() => {});
              return ms;
            },
          ),
          "engine start from checkpoint + first apply",
        ),
      );
    }
  },
};
