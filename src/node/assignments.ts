// AO's assignments on this node: a process's result names a message the node already holds and
// the processes that should evaluate it too (`ao.assign`, AO's MU/SU "assign" of an existing
// message). outgoing.ts signs one Type=Assignment item per target into the durable outbox; the
// checks below run when delivery hands it to the scheduler; the runner then gives the target the
// assigned message itself (its own id, tags, owner and Target), as AO's compute unit does.
import { DataItem } from "../protocol/data-item.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Meta } from "../protocol/hymx.js";
import type { Store } from "../store/types.js";
import type { ProcessState, ProcessTable } from "./processes.js";
import { itemMeta } from "./vm-input.js";

/** Is this scheduled item an assignment this node made from a process's result? */
export function isAssignment(item: DataItem, node: string): boolean {
  return item.tag("Type") === "Assignment" && item.address === node;
}

/** The stored message an assignment names, or null when the node does not hold it. */
async function assignedMessage(store: Store, msgId: string) {
  const at = await store.locate(msgId);
  const stored = at ? await store.messageByNonce(at.pid, at.nonce) : null;
  return at && stored ? { ...at, item: DataItem.fromJSON(stored) } : null;
}

/**
 * Checks an assignment before the scheduler takes it, and answers its target's state. A message
 * goes to a process's schedule at most once: never back to the process it was sent to (nor,
 * through the scheduler's content dedupe, twice to the same process). Throws ProtocolError:
 * err_process_not_found (the target does not run on this node; assignments reach local processes
 * only), err_process_stopped, err_message_not_found (the node holds no such message),
 * err_invalid_assignment (a spawn, another assignment, or the message's own process).
 */
export async function admitAssignment(
  store: Store,
  procs: ProcessTable,
  item: DataItem,
): Promise<ProcessState> {
  const pid = item.targetId;
  const state = procs.get(pid);
  if (!state)
    throw new ProtocolError("err_process_not_found", `${pid} is not a process on this node`);
  if (state.stopped) throw new ProtocolError("err_process_stopped");
  const msgId = item.tag("Message") ?? "";
  const found = await assignedMessage(store, msgId);
  if (!found) throw new ProtocolError("err_message_not_found", `no message ${msgId} on this node`);
  const refuse = (why: string) => new ProtocolError("err_invalid_assignment", why);
  if (found.nonce === 0) throw refuse(`${msgId} is a spawn`);
  if (found.item.tag("Type") !== "Message") throw refuse(`${msgId} is not a message`);
  if (found.pid === pid) throw refuse(`${msgId} is in ${pid}'s schedule already`);
  return state;
}

/**
 * What the target of an assignment evaluates: the assigned message's own Meta (its id, signer,
 * tags and data; `Target` the process it was sent to, so the process sees an assignment), at the
 * assignment's nonce and timestamp. Null when the store no longer holds the message.
 */
export async function assignedMeta(
  store: Store,
  pid: string,
  item: DataItem,
  nonce: number,
  timestamp: number,
): Promise<Meta | null> {
  const found = await assignedMessage(store, item.tag("Message") ?? "");
  if (!found) return null;
  return {
    ...itemMeta(pid, found.item, nonce, timestamp, "Message"),
    Target: found.item.targetId,
  };
}
