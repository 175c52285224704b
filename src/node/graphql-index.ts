import type { Logger } from "../log.js";
import { fromB64Url } from "../protocol/base64url.js";
import { BundleItemJsonSchema, DataItem, idFromSignature } from "../protocol/data-item.js";
import { ownerAddress, type Signer, type SignatureType } from "../protocol/signers.js";
import { scanModuleFile } from "../module/file-scan.js";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { listModuleFiles } from "../module/files.js";
import { indexEntry, type IndexedItem } from "../store/item-index.js";
import type { Store, StoredItem } from "../store/types.js";

/** A module file's item without its data (the header the file starts with). */
async function moduleHeader(file: string): Promise<StoredItem | null> {
  const { header } = await scanModuleFile(file, undefined, { stopAtData: true });
  const parsed = BundleItemJsonSchema.safeParse({ ...header, data: "" });
  if (!parsed.success) return null;
  // The id may follow the data in the file: it is the hash of the signature anyway.
  const id = idFromSignature(fromB64Url(parsed.data.signature, "signature"));
  return { ...(parsed.data as StoredItem), id };
}

function moduleEntry(item: StoredItem, timestamp: number): IndexedItem {
  return {
    id: item.id,
    owner: ownerAddress(item.signatureType as SignatureType, fromB64Url(item.owner, "owner")),
    target: item.target ?? "",
    timestamp,
    tags: item.tags ?? [],
  };
}

export interface GatewayIndexOptions {
  store: Store;
  /** The node's folder (its `mod/` holds the modules). */
  baseDir: string;
  signer: Signer;
  /** The node's public URL, announced in its Scheduler-Location item. */
  url: string;
  log: Logger;
}

/** What the gateway GraphQL asks of the index beyond the store. */
export interface GatewayIndex {
  /** The whole signed item of an id the node holds outside the store (a module's header, its location item). */
  extraItem(id: string): Promise<StoredItem | null>;
  /**
   * Indexes module files added to `mod/` (or the legacy folder) since the last look, so a module
   * built while the node runs is found without a restart. Costs two stats when neither folder's
   * mtime changed; a file that does not parse yet (still being copied) is retried next time.
   */
  refreshModules(): Promise<void>;
}

/**
 * Brings the gateway index up to date at start: the catalog's modules, a signed
 * Scheduler-Location item for this node (AO's clients look the scheduler's URL up by its owner),
 * and, for a store written before the index existed, every item it holds. Answers a lookup of the
 * whole signed items that live outside the store (modules' headers, the location item).
 */
export async function prepareGatewayIndex(opts: GatewayIndexOptions): Promise<GatewayIndex> {
  const { store } = opts;
  const modules = new Map<string, string>();
  const seen = new Set<string>();
  const folders = [join(opts.baseDir, "mod"), opts.baseDir];
  const stamp = () =>
    folders.map((d) => (existsSync(d) ? String(statSync(d).mtimeMs) : "-")).join(",");
  let lastStamp = "";
  /** Headers of module files not indexed yet; sets lastStamp only when every file parsed. */
  const scan = async (): Promise<IndexedItem[]> => {
    const now = stamp();
    const entries: IndexedItem[] = [];
    let complete = true;
    for (const file of listModuleFiles(opts.baseDir)) {
      if (seen.has(file)) continue;
      const header = await moduleHeader(file).catch(() => null);
      if (!header) {
        complete = false;
        continue;
      }
      seen.add(file);
      modules.set(header.id, file);
      entries.push(moduleEntry(header, Date.now()));
    }
    if (complete) lastStamp = now;
    return entries;
  };
  const entries = await scan();
  const known = await store.queryItems({
    owners: [opts.signer.address],
    tags: [
      { name: "Type", values: ["Scheduler-Location"], op: "EQ" },
      { name: "Url", values: [opts.url], op: "EQ" },
    ],
    first: 1,
    sort: "DESC",
  });
  let location: StoredItem | undefined;
  if (known.items.length === 0) {
    const item = DataItem.sign(
      {
        tags: [
          { name: "Data-Protocol", value: "ao" },
          { name: "Variant", value: "ao.TN.1" },
          { name: "Type", value: "Scheduler-Location" },
          { name: "Url", value: opts.url },
          { name: "Time-To-Live", value: "3600000" },
        ],
      },
      opts.signer,
    );
    location = item.toJSON();
    entries.push(indexEntry(location, Date.now()));
  }
  await store.indexItems(entries);
  await backfill(store, opts.log);
  let refreshing: Promise<void> | undefined;
  return {
    async extraItem(id) {
      if (location?.id === id) return location;
      const file = modules.get(id);
      return file ? moduleHeader(file) : null;
    },
    refreshModules() {
      if (stamp() === lastStamp) return Promise.resolve();
      refreshing ??= scan()
        .then((added) => (added.length ? store.indexItems(added) : undefined))
        .finally(() => (refreshing = undefined));
      return refreshing;
    },
  };
}

/** Indexes every stored message of a store that predates the index (its first start with it). */
async function backfill(store: Store, log: Logger): Promise<void> {
  const processes = await store.processes();
  if (processes.length === 0) return;
  const firstSpawn = await store.messageByNonce(processes[0]!, 0);
  if (!firstSpawn) return;
  const indexed = await store.queryItems({ ids: [firstSpawn.id], first: 1, sort: "DESC" });
  if (indexed.items.length > 0) return;
  let count = 0;
  for (const pid of processes) {
    const max = await store.nonce(pid);
    const batch: IndexedItem[] = [];
    for (let n = 0; n <= max; n++) {
      const [item, asg] = await Promise.all([
        store.messageByNonce(pid, n),
        store.assignmentByNonce(pid, n),
      ]);
      if (!item) continue;
      const ts = Number(asg?.tags?.find((t) => t.name === "Timestamp")?.value ?? 0) || Date.now();
      batch.push(indexEntry(item, ts));
    }
    await store.indexItems(batch);
    count += batch.length;
  }
  log.info(`gateway index: added ${count} stored items`);
}
