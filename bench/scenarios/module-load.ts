import { spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createGzip } from "node:zlib";
import { buildModule } from "../../src/module/build.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { IMAGES } from "../../src/runtime/images/builder.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, summarize } from "../lib/stats.js";

const MB = 2 ** 20;

export const moduleLoadScenario: Scenario = {
  name: "module-load",
  describe:
    "loading a module's image from its file into the engine (MB/s, loader peak RSS), vs docker load of the same .tar.gz with the CLI",
  async run(ctx, emit) {
    const sizeMB = ctx.quick ? 20 : 210;
    const tag = `vmdocker/bench-big:${Date.now()}`;
    const dir = join(ctx.base, "big-ctx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "Dockerfile"),
      `FROM ${IMAGES.busybox}\nRUN head -c ${sizeMB * MB} /dev/urandom > /blob\n`,
    );
    await ctx.docker.buildImage({ context: dir, src: ["Dockerfile"] }, { tag });
    const mod = await buildModule(
      ctx.docker,
      {
        source: { mode: "pull", image: tag },
        signer: new EthereumSigner("22".repeat(32)),
        outDir: join(ctx.base, "big-mod"),
        startCommand: "/bin/true",
      },
      silentProgress,
    );
    const archive = join(ctx.base, "big.tar.gz");
    await pipeline(await ctx.docker.saveImage(tag), createGzip(), createWriteStream(archive));
    const bytes = statSync(archive).size;
    const drop = () => ctx.docker.removeImage(tag, true).catch(() => {});
    const probe = fileURLToPath(new URL("../../test/helpers/load-probe.js", import.meta.url));
    const peaks: number[] = [];
    const s = await interleaved(
      ctx.quick ? 1 : 3,
      async () => {
        await drop();
        const res = spawnSync(process.execPath, [probe, mod.file], { encoding: "utf8" });
        if (res.status !== 0) throw new Error(`load probe: ${res.stderr}`);
        const m = JSON.parse(res.stdout.trim().split("\n").at(-1)!) as {
          baseline: number;
          peak: number;
          seconds: number;
        };
        peaks.push((m.peak - m.baseline) / MB);
        return bytes / MB / m.seconds;
      },
      async () => {
        await drop();
        const t = now();
        const a = ctx.docker.address;
        const host = a.kind === "unix" ? `unix://${a.socketPath}` : a.display;
        const res = spawnSync("docker", ["-H", host, "load", "-q", "-i", archive], {
          encoding: "utf8",
        });
        if (res.status !== 0) throw new Error(`docker load: ${res.stderr}`);
        return bytes / MB / ((now() - t) / 1000);
      },
    );
    await drop();
    emit({
      scenario: "module load",
      metric: `${(bytes / MB).toFixed(0)} MB image`,
      unit: "MB/s",
      better: "higher",
      ours: summarize(s.ours),
      baseline: summarize(s.baseline),
      baselineLabel: "docker load -i <.tar.gz> (CLI)",
    });
    emit({
      scenario: "module load",
      metric: "loader peak RSS growth",
      unit: "MB",
      better: "lower",
      ours: summarize(peaks),
      note: "fresh process per load",
    });
  },
};
