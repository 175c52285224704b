import {
  IMAGES,
  ImageBuilder,
  RUNTIME_START_COMMAND,
  type ImageName,
} from "../../runtime/images/builder.js";
import { debianMirror } from "../../sys/apt.js";
import { silentProgress } from "../../progress.js";
import { OPENCLAW_VERSION } from "../../runtime/images/sources.js";
import type { Command } from "commander";
import { VmdError } from "../../errors.js";
import { AO_COMPUTE_LIMIT, AO_MEMORY_LIMIT, AO_MODULE_NAME } from "../../module/ao.js";
import {
  AO_LOADER_FORMATS,
  aoWasmRuntime,
  buildAoWasmModule,
  DEFAULT_WASM_FORMAT,
  isAoWasmModule,
} from "../../module/ao-wasm.js";
import { buildModule, type ImageSource } from "../../module/build.js";
import { buildArgsFromEnv, generatorEnv } from "../../module/env.js";
import { listModuleFiles, resolveModuleFile } from "../../module/files.js";
import { inspectModuleFile, verifyModuleFile, type ModuleSummary } from "../../module/inspect.js";
import { ensureModuleImage, readModuleTags } from "../../module/load.js";
import type { CliContext } from "../context.js";
import { printJson, table } from "../output.js";
import { cliSigner } from "./client.js";
import { terminalProgress } from "../progress.js";

const collect = (v: string, prev: string[]) => [...prev, v];
const tag = (s: ModuleSummary, name: string) => s.tags.find((t) => t.name === name)?.value ?? "";

interface BuildFlags {
  image?: string;
  imageId?: string;
  dockerfile?: string;
  context?: string;
  tag?: string;
  buildArg: string[];
  key?: string;
  out: string;
  startCommand?: string;
  sandboxAgent?: string;
  openclawVersion?: string;
  openclaw?: boolean;
  ao?: boolean;
  wasm?: string;
  moduleFormat?: string;
  memoryLimit?: string;
  computeLimit?: string;
  name?: string;
  json?: boolean;
}

export function registerModule(program: Command, ctx: () => CliContext): void {
  const mod = program
    .command("module")
    .description(
      "build, inspect, verify, list and load vmdocker modules (a container image in a signed item)",
    );

  mod
    .command("build")
    .description(
      "export an image (local, pulled or built) into a signed module file mod/mod-<id>.json",
    )
    .option("--image <name>", "pull mode: a local image (env VMDOCKER_SANDBOX_IMAGE_NAME)")
    .option(
      "--image-id <id>",
      "pull mode: the id the image must have (env VMDOCKER_SANDBOX_IMAGE_ID)",
    )
    .option("--dockerfile <file>", "build mode: the Dockerfile (env VMDOCKER_BUILD_DOCKERFILE)")
    .option(
      "--context <dir>",
      "build mode: the build context (env VMDOCKER_BUILD_CONTEXT_DIR; default the Dockerfile's folder)",
    )
    .option("--tag <tag>", "build mode: the image tag (env VMDOCKER_BUILD_TAG)")
    .option(
      "--build-arg <K=V>",
      "build mode: a build argument (env VMDOCKER_BUILD_ARG_<K>); repeatable",
      collect,
      [],
    )
    .option(
      "--key <hex>",
      "Ethereum private key that signs the module (env VMDOCKER_PRIVATE_KEY or VMDOCKER_KEY; default: the key kept in the state folder, as every verb)",
    )
    .option("--out <dir>", "where to write mod-<id>.json", "mod")
    .option("--start-command <cmd>", "the module's Start-Command tag")
    .option("--sandbox-agent <agent>", "the module's Sandbox-Agent tag", "shell")
    .option("--openclaw-version <v>", "the module's Openclaw-Version tag")
    .option(
      "--openclaw",
      `the OpenClaw module: image ${IMAGES.openclaw}, its start command and Openclaw-Version`,
    )
    .option(
      "--ao",
      `the AO module (${AO_MODULE_NAME}): image ${IMAGES["runtime-ao"]}, AO's module tags`,
    )
    .option(
      "--wasm <file>",
      "with --ao: an AO WASM module instead (the file is the module's data, run by AO's loader in the AO runtime)",
    )
    .option(
      "--module-format <format>",
      `with --wasm: the loader format the WASM was compiled for (${AO_LOADER_FORMATS.join(", ")})`,
      DEFAULT_WASM_FORMAT,
    )
    .option("--memory-limit <size>", "with --wasm: AO's Memory-Limit", AO_MEMORY_LIMIT)
    .option("--compute-limit <n>", "with --wasm: AO's Compute-Limit", AO_COMPUTE_LIMIT)
    .option("--name <name>", "with --wasm: the module's Name tag (aos finds modules by it)")
    .option("--json", "print the result as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  vmdocker module build --openclaw\n  vmdocker module build --ao\n  vmdocker module build --ao --wasm process.wasm --module-format wasm32-unknown-emscripten2\n  vmdocker module build --image vmdocker/busybox:latest --key $VMDOCKER_PRIVATE_KEY\n  VMDOCKER_BUILD_DOCKERFILE=./Dockerfile vmdocker module build --json",
    )
    .action(async (f: BuildFlags) => {
      const env = generatorEnv(process.cwd());
      if (f.ao && f.openclaw)
        throw new VmdError(
          "err_bad_flag",
          "--ao and --openclaw exclude each other",
          "pass one of them",
        );
      if (f.wasm) return buildWasm(ctx, f, env.VMDOCKER_PRIVATE_KEY);
      if (f.ao) {
        f.image ??= IMAGES["runtime-ao"];
        f.startCommand ??= RUNTIME_START_COMMAND;
      }
      if (f.openclaw) {
        f.image ??= IMAGES.openclaw;
        f.startCommand ??= RUNTIME_START_COMMAND;
        f.openclawVersion ??= OPENCLAW_VERSION;
      }
      const dockerfile = f.dockerfile ?? env.VMDOCKER_BUILD_DOCKERFILE;
      const buildArgs = { ...buildArgsFromEnv(env) };
      for (const a of f.buildArg) {
        const eq = a.indexOf("=");
        if (eq <= 0)
          throw new VmdError(
            "err_bad_flag",
            `--build-arg ${a} is not K=V`,
            "write it as --build-arg NAME=value",
          );
        buildArgs[a.slice(0, eq)] = a.slice(eq + 1);
      }
      let source: ImageSource;
      if (dockerfile) {
        source = {
          mode: "build",
          dockerfile,
          contextDir: f.context ?? env.VMDOCKER_BUILD_CONTEXT_DIR,
          tag: f.tag ?? env.VMDOCKER_BUILD_TAG,
          buildArgs,
        };
      } else {
        const image = f.image ?? env.VMDOCKER_SANDBOX_IMAGE_NAME;
        if (!image)
          throw new VmdError(
            "err_bad_flag",
            "no image to export",
            "pass --image NAME (pull mode) or --dockerfile FILE (build mode)",
          );
        source = { mode: "pull", image, expectedId: f.imageId ?? env.VMDOCKER_SANDBOX_IMAGE_ID };
        // One of vmdocker's own images: it must be built from these sources (a stale runtime-ao
        // would carry an older AO library without a word).
        const own = (Object.keys(IMAGES) as ImageName[]).find((n) => IMAGES[n] === image);
        if (own)
          await new ImageBuilder(
            ctx().client(),
            { mirror: debianMirror(), cacheDir: ctx().paths.cache },
            silentProgress,
          ).check(own);
      }
      const built = await buildModule(
        ctx().client(),
        {
          source,
          signer: cliSigner(ctx, f.key ?? env.VMDOCKER_PRIVATE_KEY),
          outDir: f.out,
          startCommand: f.startCommand,
          sandboxAgent: f.sandboxAgent,
          openclawVersion: f.openclawVersion,
          ao: f.ao,
        },
        terminalProgress(),
      );
      if (f.json) printJson(built);
      else
        console.log(
          `[module] generate and save module success, id ${built.id}\n[module] local bundle file: ${built.file}`,
        );
    });

  /** `module build --ao --wasm FILE`: an AO WASM module (AO's own module shape). */
  async function buildWasm(
    ctx: () => CliContext,
    f: BuildFlags,
    envKey: string | undefined,
  ): Promise<void> {
    if (!f.ao)
      throw new VmdError(
        "err_bad_flag",
        "--wasm builds an AO module",
        "pass --ao with --wasm FILE",
      );
    const image = f.image ?? f.imageId ?? f.dockerfile;
    if (image)
      throw new VmdError(
        "err_bad_flag",
        `--wasm FILE is the whole module, so --${f.image ? "image" : f.imageId ? "image-id" : "dockerfile"} ${image} would be ignored`,
        "pass either --wasm FILE or an image, not both",
      );
    const built = await buildAoWasmModule({
      wasm: f.wasm!,
      signer: cliSigner(ctx, f.key ?? envKey),
      outDir: f.out,
      format: f.moduleFormat,
      memoryLimit: f.memoryLimit,
      computeLimit: f.computeLimit,
      name: f.name,
    });
    if (f.json) printJson(built);
    else
      console.log(
        `[module] generate and save module success, id ${built.id}\n[module] local bundle file: ${built.file}`,
      );
  }

  const summaryRows = (s: ModuleSummary) => [
    ["id", s.id],
    ["file", s.file],
    ["signer", `${s.signer} (signature type ${s.signatureType})`],
    [
      "size",
      `${(s.fileBytes / 1e6).toFixed(1)} MB file, ${(s.dataBytes / 1e6).toFixed(1)} MB data`,
    ],
    ...s.tags.map((t) => [`tag ${t.name}`, t.value]),
  ];

  mod
    .command("inspect <idOrFile>")
    .description("show a module's tags, sizes and signer (reads the file without loading its data)")
    .option("--dir <dir>", "where to look for mod/mod-<id>.json", ".")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  vmdocker module inspect mod/mod-<id>.json")
    .action(async (idOrFile: string, f: { dir: string; json?: boolean }) => {
      const s = await inspectModuleFile(resolveModuleFile(idOrFile, f.dir));
      if (f.json) printJson(s);
      else console.log(table(["FIELD", "VALUE"], summaryRows(s)));
    });

  mod
    .command("verify <idOrFile>")
    .description(
      "check a module's signature over its whole data and its id; exits 1 when either fails",
    )
    .option("--dir <dir>", "where to look for mod/mod-<id>.json", ".")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  vmdocker module verify <module-id>")
    .action(async (idOrFile: string, f: { dir: string; json?: boolean }) => {
      const s = await verifyModuleFile(resolveModuleFile(idOrFile, f.dir));
      const ok = !!s.verified?.signature && !!s.verified.id;
      if (f.json) printJson({ ...s, ok });
      else
        console.log(
          `${ok ? "ok" : "FAILED"}: module ${s.id} signed by ${s.signer}: signature ${s.verified?.signature ? "valid" : "INVALID"}, id ${s.verified?.id ? "matches" : "DOES NOT MATCH"}`,
        );
      if (!ok) process.exitCode = 1;
    });

  mod
    .command("list")
    .description(
      "every module this installation can spawn (mod/mod-<id>.json and legacy ./mod-<id>.json)",
    )
    .option("--dir <dir>", "the node's working folder", ".")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  vmdocker module list --json")
    .action(async (f: { dir: string; json?: boolean }) => {
      const rows = [];
      for (const file of listModuleFiles(f.dir)) {
        const s = await inspectModuleFile(file);
        rows.push({
          id: s.id,
          imageName: tag(s, "Image-Name"),
          moduleFormat: tag(s, "Module-Format"),
          file,
        });
      }
      if (f.json) printJson(rows);
      else if (rows.length === 0)
        console.log(`no modules in ${f.dir}/mod: build one with \`vmdocker module build\``);
      else
        console.log(
          table(
            ["ID", "IMAGE", "FORMAT", "FILE"],
            rows.map((r) => [r.id, r.imageName, r.moduleFormat, r.file]),
          ),
        );
    });

  mod
    .command("load <idOrFile>")
    .description(
      "make sure the module's image is in the engine (cold start: stream it from the module data)",
    )
    .option("--dir <dir>", "where to look for mod/mod-<id>.json", ".")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  vmdocker module load <module-id>")
    .action(async (idOrFile: string, f: { dir: string; json?: boolean }) => {
      const file = resolveModuleFile(idOrFile, f.dir);
      if (isAoWasmModule(await readModuleTags(file))) {
        // Its data is the WASM itself: check it, and that the AO runtime's image is here.
        const { image, wasm } = await aoWasmRuntime(ctx().client(), file);
        if (f.json)
          printJson({
            imageName: image.imageName,
            imageId: image.imageId,
            how: "present",
            wasmBytes: wasm.length,
          });
        else
          console.log(
            `an AO WASM module (${wasm.length} bytes of WASM, signature checked): it runs in ${image.imageName}, which is present`,
          );
        return;
      }
      const progress = terminalProgress();
      const task = progress.task("module image");
      const r = await ensureModuleImage(ctx().client(), file, task);
      task.done(`${r.spec.imageName} ${r.how} in ${r.seconds.toFixed(1)} s`);
      if (f.json)
        printJson({
          imageName: r.spec.imageName,
          imageId: r.spec.imageId,
          how: r.how,
          seconds: r.seconds,
        });
    });
}
