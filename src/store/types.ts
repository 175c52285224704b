import type { BundleItemJson } from "../protocol/data-item.js";
import type { VmmResult } from "../protocol/hymx.js";

export type StoredItem = BundleItemJson & { id: string };

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
   * Appends the item at `nonce` (= current + 1; 0 for a spawn) with its assignment, atomically.
   * With `contentKey` (the item's deep hash, base64url) the key is recorded in the same commit, and
   * an item whose key is already recorded is refused: ProtocolError err_duplicate_item.
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
  /** Saves a result (Cache stripped) and its cache entries, atomically. */
  saveResult(pid: string, result: VmmResult): Promise<void>;
  result(msgId: string): Promise<VmmResult | null>;
  /** Results of a process in execution order. */
  results(pid: string, query: ResultsQuery): Promise<VmmResult[]>;
  resultCount(pid: string): Promise<number>;
  cache(pid: string, key: string): Promise<string>;
  /** Every process this store knows. */
  processes(): Promise<string[]>;
  setCheckpoint(pid: string, itemId: string): Promise<void>;
  checkpoint(pid: string): Promise<string | null>;
  close(): Promise<void>;
}
