import type { BundleItemJson } from "../protocol/data-item.js";
import type { VmmResult } from "../protocol/hymx.js";

export type StoredItem = BundleItemJson & { id: string };

export interface ResultsQuery {
  /** Only results after this nonce (exclusive). */
  from?: number;
  /** Only results up to this nonce (inclusive). */
  to?: number;
  limit: number;
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
   * Appends the item at `nonce` with its assignment, atomically. Refused with err_nonce_gap
   * unless `nonce` is the current one + 1 (0 for a spawn), and with err_duplicate_item when the
   * id is stored already. Appends may be made before earlier ones resolve: they apply in call
   * order (so several can share one commit).
   */
  append(pid: string, nonce: number, item: StoredItem, assignment: StoredItem): Promise<void>;
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
