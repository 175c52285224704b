import type { Command } from "commander";
import { debianMirror } from "../../sys/apt.js";
import { ImageBuilder, IMAGES } from "../../runtime/images/builder.js";
import { INPUT_LABEL } from "../../runtime/images/inputs.js";
import type { CliContext } from "../context.js";
import { printJson, table } from "../output.js";
import { terminalProgress } from "../progress.js";

export function registerImages(program: Command, ctx: () => CliContext): void {
  const images = program
    .command("images")
    .description("build and list vmdocker's images (no registry needed)");

  images
    .command("build")
    .description(
      `build vmdocker's ${Object.keys(IMAGES).length} images from an offline Debian root (debootstrap): ${Object.values(IMAGES).join(", ")}; unchanged inputs are reused`,
    )
    .option(
      "--base <image>",
      "build FROM a public image instead of the offline Debian root (needs a registry)",
    )
    .option("--mirror <url>", "Debian mirror for debootstrap (default: the host's apt mirror)")
    .option("--force", "rebuild even when nothing changed")
    .option("--json", "print the built images as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  vmdocker images build\n  vmdocker images build --base debian:bookworm-slim",
    )
    .action(async (opts: { base?: string; mirror?: string; force?: boolean; json?: boolean }) => {
      const c = ctx();
      const builder = new ImageBuilder(
        c.client(),
        {
          base: opts.base,
          mirror: opts.mirror ?? debianMirror(),
          force: opts.force,
          cacheDir: c.paths.cache,
        },
        terminalProgress(),
      );
      const built = await builder.buildAll();
      if (opts.json) printJson(built);
    });

  images
    .command("list")
    .description("show vmdocker's images in the engine")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  vmdocker images list --json")
    .action(async (opts: { json?: boolean }) => {
      const client = ctx().client();
      const rows = [];
      for (const [name, reference] of Object.entries(IMAGES)) {
        const info = await client.inspectImage(reference);
        rows.push({
          name,
          reference,
          present: !!info,
          id: info?.Id ?? null,
          sizeMB: info ? Math.round(info.Size / 1e6) : null,
          input: info?.Config?.Labels?.[INPUT_LABEL] ?? null,
        });
      }
      if (opts.json) printJson(rows);
      else
        console.log(
          table(
            ["NAME", "IMAGE", "PRESENT", "ID", "SIZE"],
            rows.map((r) => [
              r.name,
              r.reference,
              r.present ? "yes" : "no",
              r.id?.slice(7, 19) ?? "-",
              r.sizeMB === null ? "-" : `${r.sizeMB} MB`,
            ]),
          ),
        );
    });
}
