import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { HymxClient } from "../../src/client/client.js";
import { buildModule, type BuiltModule } from "../../src/module/build.js";
import { silentProgress } from "../../src/progress.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { startNode, type RunningNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import type { Tag } from "../../src/protocol/tags.js";
import { callRuntime } from "../../src/runtime/backends/runtime-call.js";
import type { DockerClient } from "../../src/runtime/docker/client.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { freePort } from "../../test/helpers/ports.js";
import { LoadGenerator } from "./load.js";
import type { ReadMode } from "./loadgen.js";

export const RAW_PREFIX = "vmdocker_bench_";

/** The module of the test runtime's image that every scenario spawns (in `./.bench-mod`). */
export function buildTestModule(docker: DockerClient): Promise<BuiltModule> {
  return buildModule(
    docker,
    {
      source: { mode: "pull", image: IMAGES["runtime-test"] },
      signer: new EthereumSigner("33".repeat(32)),
      outDir: join(process.cwd(), ".bench-mod"),
      startCommand: RUNTIME_START_COMMAND,
    },
    silentProgress,
  );
}

/** How the load generator learns that a result is readable. */
export const RESULT_READ: ReadMode = { kind: "wait" };

export interface BenchNode {
  running: RunningNode;
  client: HymxClient;
  scheduler: string;
}

/** What every scenario gets: the engine, the test module, nodes on demand, and a clean-up list. */
export class BenchContext {
  readonly base = mkdtempSync(join(tmpdir(), "vmd-bench-"));
  private readonly nodes: BenchNode[] = [];
  private loadgen?: LoadGenerator;

  constructor(
    readonly docker: DockerClient,
    readonly module: BuiltModule,
    readonly quick: boolean,
    readonly log: (line: string) => void,
  ) {}

  /** A node of its own (own folder and store) with the test module, on a free loopback port. */
  async node(env: Record<string, string> = {}, moreModules: string[] = []): Promise<BenchNode> {
    const dir = join(this.base, `node-${this.nodes.length}`);
    mkdirSync(join(dir, "mod"), { recursive: true });
    for (const file of [this.module.file, ...moreModules])
      copyFileSync(file, join(dir, "mod", basename(file)));
    const cfg = loadConfig(undefined, {
      VMDOCKER_PORT: ":0",
      VMDOCKER_CHECKPOINT_INTERVAL: "0",
      VMDOCKER_WARM_POOL: "0",
      ...env,
    });
    const running = await startNode(cfg, {
      baseDir: dir,
      vms: new VmRegistry(),
      log: () => {},
      docker: this.docker,
    });
    const client = new HymxClient({
      url: running.url,
      signer: new EthereumSigner(randomBytes(32).toString("hex")),
    });
    const scheduler = (await client.info()).Node["Acc-Id"];
    const node = { running, client, scheduler };
    this.nodes.push(node);
    return node;
  }

  /** The load generator process (started on first use, ended by close). */
  load(): LoadGenerator {
    return (this.loadgen ??= LoadGenerator.start());
  }

  async close(): Promise<void> {
    this.loadgen?.close();
    for (const n of this.nodes.splice(0)) await n.running.close().catch(() => {});
    await removeRawContainers(this.docker);
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** Polls every `everyMs` until `probe` returns something. */
export async function poll<T>(
  probe: () => Promise<T | undefined | null>,
  what: string,
  everyMs = 2,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function spawnProcess(node: BenchNode, module: string, tags: Tag[] = []) {
  const pid = await node.client.spawn({ module, scheduler: node.scheduler, tags });
  const r = await poll(() => node.client.result(pid, pid), `the spawn of ${pid}`);
  if (r.Error) throw new Error(`spawn failed: ${r.Error}`);
  return pid;
}

let messageCount = 0;
/** Distinct data per message: two identical items signed in the same millisecond share an id. */
export const messageData = () => `m${++messageCount}`;

export async function sendMessage(node: BenchNode, pid: string, action = "Echo") {
  const id = await node.client.message({ pid, action, data: messageData() });
  const r = await poll(() => node.client.result(pid, id), `message ${id}`);
  if (r.Error) throw new Error(`message failed: ${r.Error}`);
  return r;
}

/** The loopback URL of a container's published 8080. */
export async function runtimeURL(docker: DockerClient, container: string): Promise<string> {
  const info = await docker.inspectContainer(container);
  const port = info.NetworkSettings.Ports?.["8080/tcp"]?.[0]?.HostPort;
  if (!port) throw new Error(`${container} publishes no 8080`);
  return `http://127.0.0.1:${port}`;
}

export interface RawContainer {
  id: string;
  url: string;
}

/**
 * The baseline: what `docker run -d -p 127.0.0.1::8080 <image> <cmd>` does, through the engine
 * API, until the runtime's first successful health answer (polled every 2 ms).
 */
export async function runRaw(
  docker: DockerClient,
  image: string,
  argv: string[],
  opts: { user?: string } = {},
): Promise<RawContainer> {
  const id = await docker.createContainer({
    name: `${RAW_PREFIX}${randomBytes(5).toString("hex")}`,
    Image: image,
    Entrypoint: [argv[0]!],
    Cmd: argv.slice(1),
    ...(opts.user ? { User: opts.user } : {}),
    ExposedPorts: { "8080/tcp": {} },
    // A fixed port (not the engine's pick), so it stays the same across a checkpoint restore.
    HostConfig: {
      PortBindings: { "8080/tcp": [{ HostIp: "127.0.0.1", HostPort: String(await freePort()) }] },
    },
  });
  await docker.startContainer(id);
  const url = await runtimeURL(docker, id);
  await poll(
    async () => ((await callRuntime(url, "health", undefined, 2000)).status === 200 ? true : null),
    "the raw container's health",
  );
  return { id, url };
}

/** Gives a raw container's runtime a process, as the VM's spawn does. */
export async function spawnRaw(raw: RawContainer): Promise<void> {
  const res = await callRuntime(raw.url, "spawn", {
    pid: "bench",
    owner: "bench",
    data: "",
    tags: [],
  });
  if (res.status !== 200) throw new Error(`raw spawn: ${res.text}`);
}

export async function removeRawContainers(docker: DockerClient): Promise<void> {
  const left = await docker.listContainers({ name: [RAW_PREFIX] });
  await Promise.all(left.map((c) => docker.removeContainer(c.Id, { force: true }).catch(() => {})));
}

export { applyBody } from "./apply-body.js";
