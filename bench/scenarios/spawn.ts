import { createWriteStream, createReadStream, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { buildModule } from "../../src/module/build.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { parseArgv } from "../../src/vm/vmdocker/spec.js";
import { runRaw, spawnProcess, type BenchContext, type BenchNode } from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, timedRow } from "../lib/stats.js";

const ARGV = parseArgv(RUNTIME_START_COMMAND);

async function ours(node: BenchNode, module: string, before?: () => Promise<void>) {
  await before?.();
  const t = now();
  const pid = await spawnProcess(node, module);
  const ms = now() - t;
  await node.running.node.stopProcess(pid);
  return ms;
}

async function raw(ctx: BenchContext, image: string, before?: () => Promise<void>) {
  await before?.();
  const t = now();
  const c = await runRaw(ctx.docker, image, ARGV);
  const ms = now() - t;
  await ctx.docker.removeContainer(c.id, { force: true });
  return ms;
}

const row = (metric: string, s: { ours: number[]; baseline: number[] }, label: string) =>
  timedRow("spawn", metric, s, label);

/** A module of its own image (the runtime image plus a label), so removing it really removes it. */
async function coldModule(ctx: BenchContext) {
  const tag = `vmdocker/bench-cold:${Date.now()}`;
  const dir = join(ctx.base, "cold-ctx");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "Dockerfile"), `FROM ${IMAGES["runtime-test"]}\nLABEL bench=cold\n`);
  await ctx.docker.buildImage({ context: dir, src: ["Dockerfile"] }, { tag });
  const mod = await buildModule(
    ctx.docker,
    {
      source: { mode: "pull", image: tag },
      signer: new EthereumSigner("11".repeat(32)),
      outDir: join(ctx.base, "cold-mod"),
      startCommand: RUNTIME_START_COMMAND,
    },
    silentProgress,
  );
  const archive = join(ctx.base, "cold.tar.gz");
  await pipeline(await ctx.docker.saveImage(tag), createGzip(), createWriteStream(archive));
  return { tag, mod, archive };
}

export const spawnScenario: Scenario = {
  name: "spawn",
  describe: "spawn through the node until its result is readable, vs docker run + first health",
  async run(ctx, emit) {
    const rounds = ctx.quick ? 3 : 10;
    const image = IMAGES["runtime-test"];
    const plain = await ctx.node();
    await spawnProcess(plain, ctx.module.id); // warms the module catalog and the image check
    emit(
      row(
        "image present",
        await interleaved(
          rounds,
          () => ours(plain, ctx.module.id),
          () => raw(ctx, image),
        ),
        "docker run -d + health",
      ),
    );

    const warm = await ctx.node({ VMDOCKER_WARM_POOL: "1" });
    await spawnProcess(warm, ctx.module.id);
    const settled = () => warm.running.pool!.settled();
    emit(
      row(
        "warm pool",
        await interleaved(
          rounds,
          () => ours(warm, ctx.module.id, settled),
          () => raw(ctx, image, settled),
        ),
        "docker run -d + health",
      ),
    );

    const cold = await coldModule(ctx);
    const dropImage = () => ctx.docker.removeImage(cold.tag, true).catch(() => {});
    const coldNode = await ctx.node({}, [cold.mod.file]);
    emit(
      row(
        "cold (image from module data)",
        await interleaved(
          ctx.quick ? 1 : 3,
          () => ours(coldNode, cold.mod.id, dropImage),
          async () => {
            await dropImage();
            const t = now();
            await ctx.docker.loadImage(createReadStream(cold.archive));
            const c = await runRaw(ctx.docker, cold.tag, ARGV);
            const ms = now() - t;
            await ctx.docker.removeContainer(c.id, { force: true });
            return ms;
          },
        ),
        "docker load of the .tar.gz + run + health",
      ),
    );
    await dropImage();
  },
};
