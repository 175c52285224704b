import type { BundleItemJson } from "../protocol/data-item.js";
import type { VmmResult } from "../protocol/hymx.js";
import type { IndexedItem, ItemPage, ItemQuery } from "./item-index.js";

export type StoredItem = BundleItemJson & { id: string };

/**
 * A node-signed item a result emitted, waiting in the durable outbox until it is delivered: a
 * message to a process, or a spawn (its target is then the scheduler's address).
 */
export interface OutboxEntry {
  /** The signed item's id (a redelivery after a crash sends the very same item). */
  id: string;
  /** The process whose result emitted it. */
  pid: string;
  kind: "message" | "spawn";
  target: string;
  item: StoredItem;
}

/** A window of a process's results; every bound is inclusive. */
export interface ResultsQuery {
  minNonce?: number;
  maxNonce?: number;
  /** Bounds on the result's Timestamp (Unix ms; a spawn's is 0). */
  minTimestamp?: number;
  maxTimestamp?: number;
  limit: number;
  /** Execution order (ASC) or its reverse. */
  sort: "ASC" | "DESC";
}

/**
 * The node's durable log and index. Every write resolves only once it is durable (SQLite: WAL with
 * synchronous=FULL; Redis: as durable as the server's AOF setting, which `vmdocker host setup`
 * makes `appendfsync always`). Keys and shapes follow hymx's Redis schema.
 */
export interface Store {
  readonly kind: "sqlite" | "redis";
  /** Current nonce of a process, or -1 when it is unknown. */
  nonce(pid: string): Promise<number>;
  /**
   * Appends the item at `nonce` with its assignment, atomically; the item enters the gateway
   * index in the same commit. Refused with err_nonce_gap unless `nonce` is the current one + 1
   * (0 for a spawn), and with err_duplicate_item when the id is stored already. With `contentKey`
   * (the item's deep hash, base64url) the key is recorded in the same commit, and an item whose
   * key is already recorded is refused: ProtocolError err_duplicate_item. Appends may be made
   * before earlier ones resolve: they apply in call order (so several can share one commit).
   */
  append(
    pid: string,
    nonce: number,
    item: StoredItem,
    assignment: StoredItem,
    contentKey?: string,
  ): Promise<void>;
  /** The id of the item whose signed content has this key, or null. */
  contentOwner(contentKey: string): Promise<string | null>;
  messageByNonce(pid: string, nonce: number): Promise<StoredItem | null>;
  assignmentByNonce(pid: string, nonce: number): Promise<StoredItem | null>;
  /** Where a message sits: its process and nonce. */
  locate(msgId: string): Promise<{ pid: string; nonce: number } | null>;
  /**
   * Saves a result (Cache stripped), its cache entries and the outbox entries it emitted, in one
   * commit: a crash leaves either all of them or none.
   */
  saveResult(pid: string, result: VmmResult, outbox?: OutboxEntry[]): Promise<void>;
  /** Outbox entries not yet delivered, in the order they were committed. */
  pendingOutbox(): Promise<OutboxEntry[]>;
  /** Marks an outbox entry delivered (removes it). */
  outboxDone(id: string): Promise<void>;
  result(msgId: string): Promise<VmmResult | null>;
  /** Results of a process in execution order. */
  results(pid: string, query: ResultsQuery): Promise<VmmResult[]>;
  resultCount(pid: string): Promise<number>;
  cache(pid: string, key: string): Promise<string>;
  /** Every process this store knows. */
  processes(): Promise<string[]>;
  setCheckpoint(pid: string, itemId: string): Promise<void>;
  checkpoint(pid: string): Promise<string | null>;
  /** Adds items to the gateway index (modules, the scheduler's location); known ids are skipped. */
  indexItems(items: IndexedItem[]): Promise<void>;
  /** GraphQL `transactions` over the gateway index. */
  queryItems(query: ItemQuery): Promise<ItemPage>;
  close(): Promise<void>;
}
