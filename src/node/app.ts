import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import { VmdError } from "../errors.js";
import { RedisStore } from "../store/redis.js";
import { SqliteStore } from "../store/sqlite.js";
import type { Store } from "../store/types.js";
import type { VmRegistry } from "../vm/contract.js";
import { listenAddress, type NodeConfig } from "./config.js";
import { buildHttp } from "./http.js";
import { loadNodeSigner } from "./identity.js";
import { ModuleCatalog } from "./modules.js";
import { HymxNode } from "./node.js";
import { bootstrapCore } from "./core-bootstrap.js";
import { REGISTRY_FORMAT, registryFactory } from "../vm/core/registry.js";
import { TOKEN_FORMAT, tokenFactory } from "../vm/core/token.js";

export interface RunningNode {
  node: HymxNode;
  http: FastifyInstance;
  url: string;
  store: Store;
  close(): Promise<void>;
}

/**
 * Starts a node: store (embedded SQLite unless `redisURL`), wallet, module catalog (`<baseDir>/mod`),
 * recovery of every stored process, then the HTTP API.
 */
export async function startNode(
  cfg: NodeConfig,
  opts: { baseDir: string; vms: VmRegistry; log: (line: string) => void },
): Promise<RunningNode> {
  const dataDir = resolve(opts.baseDir, cfg.dataDir);
  const store: Store = cfg.redisURL
    ? new RedisStore(cfg.redisURL)
    : new SqliteStore(join(dataDir, "node.db"));
  if (store instanceof RedisStore) {
    const policy = await store.fsyncPolicy();
    if (policy !== "always")
      opts.log(
        `warning: Redis appendfsync is ${policy ?? "unknown"}: acknowledged items can be lost in a crash (set appendonly yes, appendfsync always)`,
      );
  }
  const { signer, generated } = loadNodeSigner(cfg, dataDir);
  if (generated)
    opts.log(
      `generated a node wallet ${signer.address} (kept in ${join(dataDir, "node-key.hex")})`,
    );
  const modules = new ModuleCatalog(opts.baseDir);
  if (!opts.vms.get(TOKEN_FORMAT)) opts.vms.mount(TOKEN_FORMAT, tokenFactory);
  if (!opts.vms.get(REGISTRY_FORMAT)) opts.vms.mount(REGISTRY_FORMAT, registryFactory);
  const node = new HymxNode({
    store,
    signer,
    vms: opts.vms,
    modules,
    log: (m, f) => opts.log(`${m} ${f ? JSON.stringify(f) : ""}`.trim()),
  });
  await node.recover();
  await node.settled();
  if (cfg.coreProcesses)
    await bootstrapCore(node, signer, opts.baseDir, {
      Name: cfg.nodeName,
      Desc: cfg.nodeDesc,
      URL: cfg.nodeURL,
    });
  const http = buildHttp({
    node,
    modules,
    vms: opts.vms,
    nodeInfo: { Name: cfg.nodeName, Desc: cfg.nodeDesc, URL: cfg.nodeURL, Role: "main" },
    maxBodyBytes: cfg.maxBodyBytes,
  });
  const { host, port } = listenAddress(cfg.port);
  try {
    await http.listen({ host, port });
  } catch (err) {
    await store.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      throw new VmdError(
        "err_port_in_use",
        `port ${host}:${port} is in use`,
        "stop what uses it, or set port in config.yaml",
      );
    throw err;
  }
  const address = http.server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  opts.log(
    `server is running wallet=${signer.address} port=${cfg.port} url=${url} store=${store.kind}`,
  );
  return {
    node,
    http,
    url,
    store,
    async close() {
      await http.close();
      await node.close();
      await store.close();
    },
  };
}
