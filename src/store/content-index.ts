import { toB64Url } from "../protocol/base64url.js";
import { DataItem } from "../protocol/data-item.js";
import type { StoredItem } from "./types.js";

/**
 * The key an item counts by: its deep hash (the bytes its signature covers), base64url, 64
 * characters. Two items with the same signed content share it whatever their signature bytes are
 * (an Arweave re-signature, another ECDSA nonce), so a store that refuses a known key applies one
 * signed content once. AO's compute unit dedupes pushed messages by the same hash.
 */
export function contentKeyOf(item: DataItem): string {
  return toB64Url(item.deepHash());
}

/** The content key of an item as a store holds it; null when it does not parse as an item. */
export function storedContentKey(item: StoredItem): string | null {
  try {
    return contentKeyOf(DataItem.fromJSON(item));
  } catch {
    return null;
  }
}
