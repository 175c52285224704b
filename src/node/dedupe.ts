import { ProtocolError } from "../protocol/errors.js";
import type { DataItem } from "../protocol/data-item.js";
import { contentKeyOf } from "../store/content-index.js";
import type { Store } from "../store/types.js";

/**
 * Refuses an item the node already holds, by id or by signed content (its deep hash, whatever its
 * signature bytes), with ProtocolError err_duplicate_item. Answers the content key to pass to
 * `Store.append`, which refuses it again atomically if another copy got there first.
 */
export async function refuseDuplicate(store: Store, item: DataItem): Promise<string> {
  const key = contentKeyOf(item);
  if (await store.locate(item.id)) throw new ProtocolError("err_duplicate_item");
  const holder = await store.contentOwner(key);
  if (holder)
    throw new ProtocolError("err_duplicate_item", `the same signed content is item ${holder}`);
  return key;
}
