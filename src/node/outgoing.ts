import { DataItem } from "../protocol/data-item.js";
import { baseTags, type VmmResult } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { Tag } from "../protocol/tags.js";
import type { OutboxEntry } from "../store/types.js";

type ResultMessage = NonNullable<VmmResult["Messages"]>[number];
type ResultSpawn = NonNullable<VmmResult["Spawns"]>[number];

/** A process id (43 base64url characters); messages to anything else (0x addresses) are not delivered. */
export const PROCESS_ID = /^[A-Za-z0-9_-]{43}$/;

/** `header` first, then `tags` minus any whose name the header (or an earlier tag) already has. */
function merged(header: Tag[], tags: Tag[]): Tag[] {
  const seen = new Set(header.map((t) => t.name));
  return [...header, ...tags.filter((t) => !seen.has(t.name) && (seen.add(t.name), true))];
}

/**
 * A message a process emitted, as the node signs it: protocol tags first (From-Process,
 * Sequence, Pushed-For, Data-Protocol, Variant, Type), then the VM's own tags minus any that
 * would override them. AO's reference tags (Reference, X-Reference, X-Origin, Reply-To) pass on.
 */
export function outgoingMessage(
  pid: string,
  result: VmmResult,
  m: ResultMessage,
  signer: Signer,
): DataItem {
  const header: Tag[] = [
    { name: "From-Process", value: pid },
    { name: "Sequence", value: String(m.Sequence) },
    { name: "Pushed-For", value: result["Pushed-For"] },
    ...baseTags("Message"),
  ];
  return DataItem.sign(
    { target: m.Target, data: m.Data ?? "", tags: merged(header, m.Tags ?? []) },
    signer,
  );
}

/**
 * A spawn a process emitted, as the node signs it (AO's spawn: the child's tags and data as the
 * parent gave them): Type=Process, From-Process = the parent, its Scheduler (this node unless the
 * parent named another), then the parent's tags. The child's id is this item's id.
 */
export function outgoingSpawn(
  pid: string,
  result: VmmResult,
  s: ResultSpawn,
  signer: Signer,
): DataItem {
  const tags = s.Tags ?? [];
  const scheduler = tags.find((t) => t.name === "Scheduler")?.value || signer.address;
  const header: Tag[] = [
    { name: "Data-Protocol", value: "ao" },
    { name: "Variant", value: "ao.TN.1" },
    { name: "Type", value: "Process" },
    { name: "From-Process", value: pid },
    { name: "Scheduler", value: scheduler },
    { name: "Pushed-For", value: result["Pushed-For"] },
  ];
  return DataItem.sign({ data: s.Data ?? "", tags: merged(header, tags) }, signer);
}

/**
 * AO's notice to a parent that its spawn happened (what aos's `Spawn(...).receive()` waits for):
 * from the parent to itself, Action=Spawned, Process = the child's id, the spawn's Reference.
 * It takes the spawn's Sequence, so it orders after the result's messages.
 */
export function spawnedNotice(
  pid: string,
  result: VmmResult,
  s: ResultSpawn,
  childId: string,
  signer: Signer,
): DataItem {
  const reference = (s.Tags ?? []).find((t) => t.name === "Reference")?.value;
  return outgoingMessage(
    pid,
    result,
    {
      Target: pid,
      Sequence: s.Sequence,
      Data: childId,
      Tags: [
        { name: "Action", value: "Spawned" },
        { name: "AO-Spawn-Success", value: "true" },
        { name: "Process", value: childId },
        ...(reference ? [{ name: "Reference", value: reference }] : []),
      ],
    },
    signer,
  );
}

/**
 * Everything a result sends, signed, in delivery order: its messages (to process ids), then for
 * each spawn the child's Process item and the parent's Spawned notice. These are committed with
 * the result (the durable outbox), so a crash can neither lose nor repeat one.
 */
export function outboxEntries(pid: string, result: VmmResult, signer: Signer): OutboxEntry[] {
  const entries: OutboxEntry[] = [];
  const add = (kind: OutboxEntry["kind"], target: string, item: DataItem) =>
    entries.push({ id: item.id, pid, kind, target, item: item.toJSON() });
  for (const m of result.Messages ?? [])
    if (PROCESS_ID.test(m.Target))
      add("message", m.Target, outgoingMessage(pid, result, m, signer));
  for (const s of result.Spawns ?? []) {
    const child = outgoingSpawn(pid, result, s, signer);
    add("spawn", child.tag("Scheduler") ?? signer.address, child);
    add("message", pid, spawnedNotice(pid, result, s, child.id, signer));
  }
  return entries;
}
