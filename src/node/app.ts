import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { VmdError, errorMessage } from "../errors.js";
import { toLogger, type Logger, type LogTarget } from "../log.js";
import { Closers } from "../sys/closers.js";
import { RedisStore } from "../store/redis.js";
import { SqliteStore } from "../store/sqlite.js";
import type { Store } from "../store/types.js";
import type { VmRegistry } from "../vm/contract.js";
import { REGISTRY_FORMAT, registryFactory } from "../vm/core/registry.js";
import { TOKEN_FORMAT, tokenFactory } from "../vm/core/token.js";
import { NodeActivity } from "./activity.js";
import { adminToken, buildAdmin } from "./admin.js";
import { checkDistinctPorts, listenAddress, type NodeConfig } from "./config.js";
import { bootstrapCore } from "./core-bootstrap.js";
import { buildHttp } from "./http.js";
import { prepareGatewayIndex } from "./graphql-index.js";
import { loadNodeSigner } from "./identity.js";
import { ModuleCatalog } from "./modules.js";
import { registerProcessRoutes } from "./process-list.js";
import { HymxNode } from "./node.js";
import { hasCapSysResource } from "../sys/kernel.js";
import type { DockerClient } from "../runtime/docker/client.js";
import { AO_LOADER_FORMATS } from "../module/ao-wasm.js";
import { VMDOCKER_VM_FORMAT, vmdocker, type VmdockerMount } from "../vm/vmdocker/vm.js";
import type { WarmPool } from "../vm/vmdocker/warm-pool.js";
import { joinNetwork, leaveNetwork } from "./join.js";
import { RemoteNetwork } from "./network.js";

export interface RunningNode {
  node: HymxNode;
  http: FastifyInstance;
  url: string;
  adminUrl?: string;
  adminToken?: string;
  store: Store;
  /** The warm pool of processes in containers (when the node has an engine). */
  pool?: WarmPool;
  close(): Promise<void>;
}

export interface StartOptions {
  baseDir: string;
  vms: VmRegistry;
  /** A Logger, or a function that prints lines (the CLI's, a test's). */
  log: LogTarget;
  /** hymx `--mode`: normal recovery (from checkpoints), or rebuild (replay everything, re-persist results). */
  mode?: "normal" | "rebuild";
  /** With an engine, the node mounts the hymx.vmdocker.v0.0.1 VM (processes in containers). */
  docker?: DockerClient;
}

/** err_port_in_use for `what`'s port, when `err` says so; else `err` itself. */
function portError(err: unknown, what: string, host: string, port: number): unknown {
  if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") return err;
  return new VmdError(
    "err_port_in_use",
    `${what} port ${host}:${port} is in use`,
    "stop what uses it, or change it in config.yaml",
  );
}

/**
 * Throws err_port_in_use when `address`'s port cannot be bound now (a fixed port only: ":0" is
 * always free). Run before anything is written, so a start that cannot serve leaves nothing behind.
 */
async function checkPortFree(address: string, what: string): Promise<void> {
  const { host, port } = listenAddress(address);
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once("error", (err) => reject(portError(err, what, host, port)));
    probe.listen({ host, port }, () => probe.close(() => resolve()));
  });
}

async function listen(app: FastifyInstance, address: string, what: string): Promise<string> {
  const { host, port } = listenAddress(address);
  try {
    await app.listen({ host, port });
  } catch (err) {
    throw portError(err, what, host, port);
  }
  const bound = app.server.address();
  return `http://${host.includes(":") ? `[${host}]` : host}:${typeof bound === "object" && bound ? bound.port : port}`;
}

/**
 * Starts a node: store (embedded SQLite unless `redisURL`), wallet, module catalog (`<baseDir>/mod`),
 * recovery of every stored process, the core processes, the HTTP API and (with `adminPort`) the
 * admin API, and periodic checkpoints.
 */
export async function startNode(cfg: NodeConfig, opts: StartOptions): Promise<RunningNode> {
  const dataDir = resolve(opts.baseDir, cfg.dataDir);
  const log = toLogger(opts.log);
  // Before the store or a wallet is made: a port that is taken must not leave them behind.
  checkDistinctPorts(cfg);
  await checkPortFree(cfg.port, "the node's");
  if (cfg.adminPort) await checkPortFree(cfg.adminPort, "the admin");
  // Every part is closed by one list, last started first; a failed start closes what started.
  const closers = new Closers(log);
  const store: Store = cfg.redisURL
    ? new RedisStore(cfg.redisURL)
    : new SqliteStore(join(dataDir, "node.db"));
  closers.add("the store", () => store.close());
  try {
    return await startOn(cfg, opts, { dataDir, log, closers, store });
  } catch (err) {
    await closers.close();
    throw err;
  }
}

async function startOn(
  cfg: NodeConfig,
  opts: StartOptions,
  {
    dataDir,
    log,
    closers,
    store,
  }: { dataDir: string; log: Logger; closers: Closers; store: Store },
): Promise<RunningNode> {
  if (store instanceof RedisStore) {
    await store.connect();
    const policy = await store.fsyncPolicy();
    if (policy !== "always") {
      log.warn(
        `Redis appendfsync is ${policy ?? "unknown"}: acknowledged items can be lost in a crash (set appendonly yes, appendfsync always)`,
      );
    }
  }
  const { signer, cryptor, generated } = loadNodeSigner(cfg, dataDir);
  if (generated)
    log.info(
      `generated a node wallet ${signer.address} (kept in ${join(dataDir, "node-key.hex")})`,
    );
  const modules = new ModuleCatalog(opts.baseDir);
  if (!opts.vms.get(TOKEN_FORMAT)) opts.vms.mount(TOKEN_FORMAT, tokenFactory);
  if (!opts.vms.get(REGISTRY_FORMAT)) opts.vms.mount(REGISTRY_FORMAT, registryFactory);
  let containers: VmdockerMount | undefined;
  if (opts.docker && !opts.vms.get(VMDOCKER_VM_FORMAT)) {
    containers = vmdocker({
      client: opts.docker,
      moduleFile: (id) => modules.file(id),
      workspaceRoot: resolve(opts.baseDir, cfg.workspaceRoot),
      checkpointKind: cfg.checkpointKind,
      criuAsRoot: !hasCapSysResource(),
      warmPool: cfg.warmPool,
      log,
    });
    closers.add("the warm pool", () => containers?.close());
    await containers.pool.sweep();
    opts.vms.mount(VMDOCKER_VM_FORMAT, containers.factory);
    // AO WASM modules (their data is the WASM) run in the same containers, with AO's loader.
    for (const format of AO_LOADER_FORMATS)
      if (!opts.vms.get(format)) opts.vms.mount(format, containers.factory);
  }
  const activity = new NodeActivity();
  const node = new HymxNode({
    store: activity.watch(store),
    signer,
    vms: opts.vms,
    modules,
    checkpointDir: join(opts.baseDir, "ckp"),
    ...(cryptor ? { cryptor } : {}),
    log,
  });
  closers.add("the node", () => node.close());
  await node.recover(opts.mode ?? "normal");
  await node.settled();
  if (cfg.coreProcesses && !cfg.joinNetwork) {
    await bootstrapCore(node, signer, opts.baseDir, {
      Name: cfg.nodeName,
      Desc: cfg.nodeDesc,
      URL: cfg.nodeURL,
    });
  }

  const gateway = await prepareGatewayIndex({
    store,
    baseDir: opts.baseDir,
    signer,
    url: cfg.nodeURL,
    log,
  });
  const http = buildHttp({
    node,
    modules,
    vms: opts.vms,
    nodeInfo: { Name: cfg.nodeName, Desc: cfg.nodeDesc, URL: cfg.nodeURL, Role: "main" },
    maxBodyBytes: cfg.maxBodyBytes,
    extraItem: (id) => gateway.extraItem(id),
    refreshIndex: () => gateway.refreshModules(),
  });
  closers.add("the HTTP server", () => http.close());
  registerProcessRoutes(http, { node, modules, activity, checkpointKind: cfg.checkpointKind });
  let adminUrl: string | undefined;
  let token: string | undefined;
  {
    const url = await listen(http, cfg.port, "the node's");
    if (cfg.adminPort) {
      token = adminToken(cfg.adminToken, join(dataDir, "admin-token"));
      const admin = buildAdmin(node, token);
      closers.add("the admin API", () => admin.close());
      activity.watchAdmin(admin);
      adminUrl = await listen(admin, cfg.adminPort, "the admin");
      log.info(
        `admin API on ${adminUrl} (Authorization: Bearer <token from ${cfg.adminToken ? "adminToken" : join(dataDir, "admin-token")}>)`,
      );
    }
    const timer =
      cfg.checkpointInterval > 0
        ? setInterval(() => {
            node
              .checkpointChanged()
              .catch((err: unknown) =>
                log.error("periodic checkpoint failed", { error: errorMessage(err) }),
              );
          }, cfg.checkpointInterval * 1000)
        : undefined;
    timer?.unref();
    if (timer) closers.add("periodic checkpoints", () => clearInterval(timer));
    if (cfg.joinNetwork) {
      node.network = await joinNetwork({
        hymxURL: cfg.hymxURL,
        nodeURL: cfg.nodeURL,
        name: cfg.nodeName,
        desc: cfg.nodeDesc,
        signer,
        log,
      });
      const joined = node.network as RemoteNetwork;
      closers.add("the network", () => leaveNetwork(joined, signer, log));
    }
    log.info(
      `server is running wallet=${signer.address} port=${cfg.port} url=${url} store=${store.kind}`,
    );
    return {
      node,
      http,
      url,
      adminUrl,
      adminToken: token,
      store,
      pool: containers?.pool,
      close: () => closers.close(),
    };
  }
}
