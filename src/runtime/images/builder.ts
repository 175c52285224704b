import { spawn } from "node:child_process";
import {
  copyFileSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import { packageRoot } from "../../package-root.js";
import type { Progress, Task } from "../../progress.js";
import type { DockerClient } from "../docker/client.js";
import { aoLoaderFile, aoWasmDir, luaSourceTarball, writeAoModulesC } from "./ao-sources.js";
import { fileDigest, hashParts, INPUT_LABEL } from "./inputs.js";
import {
  busyboxBinary,
  debootstrapRootfs,
  nodeBinary,
  openclawPackage,
  OPENCLAW_VERSION,
  NODE_VERSION,
  ROOTFS_INCLUDE,
  ROOTFS_SUITE,
  searchHelper,
  SEARCH_HELPERS,
} from "./sources.js";

export const IMAGES = {
  rootfs: `vmdocker/rootfs:${ROOTFS_SUITE}`,
  base: `vmdocker/base:${ROOTFS_SUITE}`,
  node: "vmdocker/node:24",
  busybox: "vmdocker/busybox:latest",
  "runtime-test": "vmdocker/runtime-test:latest",
  /** Debian's emscripten: the toolchain stage of runtime-ao. */
  emscripten: "vmdocker/emscripten:3.1.6",
  /** AO processes: Lua 5.3 in WebAssembly run by AO's loader (RUNTIME_TYPE=ao). */
  "runtime-ao": "vmdocker/runtime-ao:latest",
  /** The Docker Agent System's base image (seed name), with the agent runtime. */
  "agent-base": "openclaw-agent-base:latest",
  /** OpenClaw + the /vmm runtime server (RUNTIME_TYPE=openclaw). */
  openclaw: `vmdocker/openclaw:${OPENCLAW_VERSION}`,
} as const;

/** The start command of the runtime images (their module's Start-Command tag). */
export const RUNTIME_START_COMMAND = "/usr/local/bin/node /app/runtimes/server.js";

export type ImageName = keyof typeof IMAGES;

export interface BuildOptions {
  /** A public base image (e.g. debian:bookworm-slim) instead of the offline debootstrap root. */
  base?: string;
  /** Debian mirror for debootstrap. */
  mirror: string;
  /** Rebuild even when the inputs did not change. */
  force?: boolean;
  cacheDir: string;
}

export interface BuiltImage {
  name: ImageName | "external-base";
  reference: string;
  id: string;
  cached: boolean;
  seconds: number;
}

/** The images each image is built from (what `check` looks at besides the image itself). */
const DEPENDS_ON: Partial<Record<ImageName, ImageName[]>> = {
  base: ["rootfs"],
  node: ["base"],
  "runtime-test": ["node"],
  emscripten: ["rootfs"],
  "runtime-ao": ["node", "emscripten"],
  openclaw: ["node"],
  "agent-base": ["node"],
};

/** Bump when the build recipe changes in a way the hashed inputs do not show. */
const RECIPE = "1";

/**
 * Builds vmdocker's images without a registry. Each image is labelled with the hash of its inputs
 * (recipe, Dockerfile, copied files, base image id); an image whose label matches is reused.
 */
export class ImageBuilder {
  constructor(
    private readonly client: DockerClient,
    private readonly opts: BuildOptions,
    private readonly progress: Progress,
  ) {}

  /** Builds every image (each reused while its inputs are unchanged). */
  buildAll(): Promise<BuiltImage[]> {
    return this.walk(() => true);
  }

  /**
   * Checks, without building, that `name` (and each image it is built from) carries the input
   * label of the current sources: the same hashes a build computes (file digests are memoised).
   * `reference` overrides where the last image is looked up. Throws VmdError err_image_stale
   * ("run `vmdocker images build`") for an image that is missing or built from other sources.
   */
  async check(name: ImageName, reference: string = IMAGES[name]): Promise<void> {
    const wanted = new Set<string>();
    const add = (n: string) => {
      wanted.add(n);
      for (const d of DEPENDS_ON[n as ImageName] ?? []) add(d);
    };
    add(name);
    this.checking = { name, reference };
    try {
      await this.walk((n) => wanted.has(n));
    } finally {
      this.checking = undefined;
    }
  }

  /** In check mode: the image asked about and where to look it up. */
  private checking?: { name: ImageName; reference: string };

  private async walk(want: (name: ImageName) => boolean): Promise<BuiltImage[]> {
    const results: BuiltImage[] = [];
    const root = await this.rootfs();
    results.push(root);
    const base = await this.dockerfile("base", { BASE: root.reference }, root.id, []);
    results.push(base);
    const node = await this.dockerfile("node", { BASE: base.reference }, base.id, [
      { name: "node", from: (t) => nodeBinary(this.opts.cacheDir, t), version: NODE_VERSION },
    ]);
    results.push(node);
    if (want("runtime-test"))
      results.push(
        await this.dockerfile(
          "runtime-test",
          { BASE: node.reference },
          node.id,
          this.runtimeFiles(),
        ),
      );
    if (want("emscripten") || want("runtime-ao")) {
      const toolchain = await this.dockerfile("emscripten", { BASE: root.reference }, root.id, []);
      results.push(toolchain);
      if (want("runtime-ao"))
        results.push(
          await this.dockerfile(
            "runtime-ao",
            { BASE: node.reference, TOOLCHAIN: toolchain.reference },
            `${node.id}+${toolchain.id}`,
            [...this.aoModuleFiles(), ...this.runtimeFiles()],
          ),
        );
    }
    if (want("openclaw"))
      results.push(
        await this.dockerfile("openclaw", { BASE: node.reference }, node.id, [
          {
            name: "openclaw.tar",
            from: (t) => openclawPackage(this.opts.cacheDir, t),
            version: OPENCLAW_VERSION,
          },
          ...(Object.keys(SEARCH_HELPERS) as (keyof typeof SEARCH_HELPERS)[]).map((name) => ({
            name,
            from: (t: Task) => searchHelper(this.opts.cacheDir, name, t),
          })),
          { name: "npm", from: async () => join(packageRoot(), "images", "openclaw", "npm") },
          ...this.runtimeFiles(),
        ]),
      );
    if (want("agent-base"))
      results.push(
        await this.dockerfile(
          "agent-base",
          { BASE: node.reference },
          node.id,
          this.runtimeFiles("agent"),
        ),
      );
    if (want("busybox"))
      results.push(
        await this.dockerfile("busybox", {}, "scratch", [
          { name: "busybox", from: async (t) => (await busyboxBinary(this.opts.cacheDir, t)).path },
        ]),
      );
    return results;
  }

  /** What the AO module's build stage compiles, and AO's loader. */
  private aoModuleFiles(): { name: string; from: (t: Task) => Promise<string> }[] {
    const dir = aoWasmDir();
    return [
      { name: "lua.tar.gz", from: (t) => luaSourceTarball(this.opts.cacheDir, t) },
      { name: "main.c", from: async () => join(dir, "main.c") },
      { name: "sys.c", from: async () => join(dir, "sys.c") },
      { name: "build.sh", from: async () => join(dir, "build.sh") },
      { name: "ao_modules.c", from: async () => writeAoModulesC(this.opts.cacheDir) },
      { name: "ao-loader.cjs", from: async () => aoLoaderFile() },
    ];
  }

  /** Compiled in-instance code (dist/src/runtimes[/sub]/*.js) and a package.json marking it ESM. */
  private runtimeFiles(sub = ""): { name: string; from: (t: Task) => Promise<string> }[] {
    const dir = join(packageRoot(), "dist", "src", "runtimes", sub);
    const pkg = join(this.opts.cacheDir, "runtime-package.json");
    mkdirSync(this.opts.cacheDir, { recursive: true });
    writeFileSync(pkg, '{ "type": "module" }\n');
    return [
      { name: "package.json", from: async () => pkg },
      ...readdirSync(dir)
        .filter((f) => f.endsWith(".js"))
        .sort()
        .map((f) => ({ name: f, from: async () => join(dir, f) })),
    ];
  }

  private async cachedImage(reference: string, input: string): Promise<string | null> {
    if (this.opts.force && !this.checking) return null;
    const asked = this.checking?.name && IMAGES[this.checking.name] === reference;
    const at = asked ? this.checking!.reference : reference;
    const info = await this.client.inspectImage(at);
    if (info && info.Config?.Labels?.[INPUT_LABEL] === input) return info.Id;
    if (this.checking)
      throw new VmdError(
        "err_image_stale",
        `${at} ${info ? "was built from older sources than these" : "is not built"}`,
        "run `vmdocker images build`",
      );
    return null;
  }

  private async rootfs(): Promise<BuiltImage> {
    const started = Date.now();
    if (this.opts.base) {
      const task = this.progress.task(`base ${this.opts.base}`);
      let info = await this.client.inspectImage(this.opts.base);
      if (!info) {
        task.update(`pulling ${this.opts.base}`);
        await this.client.pullImage(this.opts.base);
        info = await this.client.inspectImage(this.opts.base);
      }
      task.done(`using ${this.opts.base}`);
      return {
        name: "external-base",
        reference: this.opts.base,
        id: info!.Id,
        cached: true,
        seconds: secs(started),
      };
    }
    const task = this.progress.task(IMAGES.rootfs);
    const input = hashParts([RECIPE, "debootstrap", "minbase", ROOTFS_SUITE, ...ROOTFS_INCLUDE]);
    const cached = await this.cachedImage(IMAGES.rootfs, input);
    if (cached) {
      task.done("cached (inputs unchanged)");
      return {
        name: "rootfs",
        reference: IMAGES.rootfs,
        id: cached,
        cached: true,
        seconds: secs(started),
      };
    }
    const dir = join(this.opts.cacheDir, "rootfs");
    await debootstrapRootfs(dir, this.opts.mirror, task);
    task.update("docker import", 0.92);
    const tar = spawn("tar", ["-C", dir, "--numeric-owner", "-c", "."], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await this.client.importImage(tar.stdout, IMAGES.rootfs, [`LABEL ${INPUT_LABEL}=${input}`]);
    rmSync(dir, { recursive: true, force: true });
    const info = await this.client.inspectImage(IMAGES.rootfs);
    task.done(`built in ${secs(started)} s (debootstrap ${ROOTFS_SUITE} minbase + import)`);
    return {
      name: "rootfs",
      reference: IMAGES.rootfs,
      id: info!.Id,
      cached: false,
      seconds: secs(started),
    };
  }

  private async dockerfile(
    name: ImageName,
    buildargs: Record<string, string>,
    baseId: string,
    files: { name: string; from: (t: Task) => Promise<string>; version?: string }[],
  ): Promise<BuiltImage> {
    const started = Date.now();
    const reference = IMAGES[name];
    const task = this.progress.task(reference);
    const dockerfile = readFileSync(join(packageRoot(), "images", name, "Dockerfile"));
    const sources: { name: string; path: string }[] = [];
    for (const f of files) sources.push({ name: f.name, path: await f.from(task) });
    const digests = await Promise.all(
      sources.map(async (s) => `${s.name}=${await fileDigest(s.path)}`),
    );
    const input = hashParts([RECIPE, dockerfile, baseId, JSON.stringify(buildargs), ...digests]);
    const cached = await this.cachedImage(reference, input);
    if (cached) {
      task.done("cached (inputs unchanged)");
      return { name, reference, id: cached, cached: true, seconds: secs(started) };
    }
    const context = join(this.opts.cacheDir, "context", name);
    rmSync(context, { recursive: true, force: true });
    mkdirSync(context, { recursive: true });
    copyFileSync(join(packageRoot(), "images", name, "Dockerfile"), join(context, "Dockerfile"));
    for (const s of sources) {
      try {
        linkSync(s.path, join(context, s.name));
      } catch {
        copyFileSync(s.path, join(context, s.name));
      }
    }
    const id = await this.client.buildImage(
      { context, src: ["Dockerfile", ...sources.map((s) => s.name)] },
      { tag: reference, buildargs, labels: { [INPUT_LABEL]: input } },
      (e) => {
        const m = /^Step (\d+)\/(\d+) : (.*)/.exec(e.stream ?? "");
        if (m) task.update(m[3]!.slice(0, 60), Number(m[1]) / (Number(m[2]) + 1));
      },
    );
    rmSync(context, { recursive: true, force: true });
    task.done(`built in ${secs(started)} s`);
    return { name, reference, id, cached: false, seconds: secs(started) };
  }
}

function secs(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}
