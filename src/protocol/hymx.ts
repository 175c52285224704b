import { z } from "zod";
import type { DataItem } from "./data-item.js";
import { ProtocolError } from "./errors.js";
import type { Tag } from "./tags.js";

export const DATA_PROTOCOL = "hymx";
export const VARIANT = "v0.1.0";
export type ItemType = "Module" | "Process" | "Message" | "Assignment" | "Checkpoint";

export const baseTags = (type: ItemType): Tag[] => [
  { name: "Data-Protocol", value: DATA_PROTOCOL },
  { name: "Variant", value: VARIANT },
  { name: "Type", value: type },
];

const opt = (name: string, value: string | undefined): Tag[] => (value ? [{ name, value }] : []);

/** Module tags in hymx `ModuleToTags` order: base, format, limits (empty strings kept), encodings, extensions. */
export function moduleTags(m: {
  moduleFormat: string;
  memoryLimit?: string;
  computeLimit?: string;
  inputEncoding?: string;
  outputEncoding?: string;
  tags?: Tag[];
}): Tag[] {
  return [
    ...baseTags("Module"),
    { name: "Module-Format", value: m.moduleFormat },
    { name: "Memory-Limit", value: m.memoryLimit ?? "" },
    { name: "Compute-Limit", value: m.computeLimit ?? "" },
    ...opt("Input-Encoding", m.inputEncoding),
    ...opt("Output-Encoding", m.outputEncoding),
    ...(m.tags ?? []),
  ];
}

export function processTags(p: {
  module: string;
  scheduler: string;
  params?: Tag[];
  fromProcess?: string;
  pushedFor?: string;
}): Tag[] {
  return [
    ...baseTags("Process"),
    { name: "Module", value: p.module },
    { name: "Scheduler", value: p.scheduler },
    ...(p.params ?? []),
    ...opt("From-Process", p.fromProcess),
    ...opt("Pushed-For", p.pushedFor),
  ];
}

export function messageTags(m: {
  action?: string;
  fromProcess?: string;
  pushedFor?: string;
  sequence?: number;
  params?: Tag[];
}): Tag[] {
  return [
    ...baseTags("Message"),
    ...opt("Action", m.action),
    ...opt("From-Process", m.fromProcess),
    ...opt("Pushed-For", m.pushedFor),
    ...opt("Sequence", m.sequence === undefined ? undefined : String(m.sequence)),
    ...(m.params ?? []),
  ];
}

export function assignmentTags(a: {
  process: string;
  message: string;
  nonce: number;
  timestamp: number;
}): Tag[] {
  return [
    ...baseTags("Assignment"),
    { name: "Process", value: a.process },
    { name: "Message", value: a.message },
    { name: "Nonce", value: String(a.nonce) },
    { name: "Timestamp", value: String(a.timestamp) },
  ];
}

export function checkpointTags(c: { process: string; nonce: number }): Tag[] {
  return [
    ...baseTags("Checkpoint"),
    { name: "Process", value: c.process },
    { name: "Nonce", value: String(c.nonce) },
  ];
}

/** Any repeated tag name rejects the item, with upstream's exact error text. */
export function assertNoDuplicateTags(tags: Tag[]): void {
  const seen = new Set<string>();
  for (const t of tags) {
    if (seen.has(t.name)) throw new ProtocolError(`duplicate tag: ${t.name}`);
    seen.add(t.name);
  }
}

const ALWAYS_EXCLUDED = new Set([
  "Data-Protocol",
  "Variant",
  "Type",
  "From-Process",
  "From-Module",
  "From",
  "Owner",
  "Anchor",
  "Target",
  "Data",
  "Tags",
  "Read-Only",
]);
const MESSAGE_META = new Set(["Action", "Pushed-For", "Sequence"]);
const PROCESS_REMOVED = new Set(["Module", "Scheduler", "Pushed-For"]);

/**
 * `Meta.Params` from an item's tags (hymx utils/tags.go): duplicates reject the item, empty values
 * are dropped, protocol tags are excluded; for messages `Params.Data` is the decoded data as UTF-8.
 */
export function extractParams(item: DataItem, kind: "Process" | "Message"): Record<string, string> {
  return paramsFromTags(item.tags, kind, item.data.toString("utf8"));
}

/** The same rules over bare tags and data (dry runs carry no signed item). */
export function paramsFromTags(
  tags: Tag[],
  kind: "Process" | "Message",
  data: string,
): Record<string, string> {
  assertNoDuplicateTags(tags);
  const params: Record<string, string> = {};
  for (const t of tags) {
    if (t.value === "" || ALWAYS_EXCLUDED.has(t.name)) continue;
    if (kind === "Message" && MESSAGE_META.has(t.name)) continue;
    if (kind === "Process" && PROCESS_REMOVED.has(t.name)) continue;
    params[t.name] = t.value;
  }
  if (kind === "Message") params.Data = data;
  return params;
}

/** The tags of a spawn as sent to VMs (`Process.Tags`): params in item order, filtered as above. */
export function processParamTags(item: DataItem): Tag[] {
  const params = extractParams(item, "Process");
  return item.tags.filter((t) => Object.hasOwn(params, t.name) && params[t.name] === t.value);
}

// ---- JSON shapes exchanged with VMs and served by the node (Go field names; zero values emitted) ----

const TagSchema = z.object({ name: z.string(), value: z.string() });

export const MetaSchema = z.object({
  "Item-Id": z.string(),
  Pid: z.string(),
  "Acc-Id": z.string(),
  Action: z.string(),
  "From-Process": z.string(),
  "Pushed-For": z.string(),
  Sequence: z.number().int(),
  Nonce: z.number().int(),
  Timestamp: z.number().int(),
  Params: z.record(z.string(), z.string()),
  /** base64url (no padding) of the raw item data. */
  Data: z.string(),
});
export type Meta = z.infer<typeof MetaSchema>;

export const ResultMessageSchema = z.object({
  Sequence: z.union([z.string(), z.number()]).optional(),
  Target: z.string(),
  Data: z.string().optional(),
  Tags: z.array(TagSchema).nullable().optional(),
});
export const ResultSpawnSchema = z.object({
  Sequence: z.union([z.string(), z.number()]).optional(),
  Data: z.string().optional(),
  Tags: z.array(TagSchema).nullable().optional(),
});

/** What a VM's Apply returns. `Error` must be null/absent across JSON (upstream quirk). */
export const ResultSchema = z.object({
  Messages: z.array(ResultMessageSchema).nullable().optional(),
  Spawns: z.array(ResultSpawnSchema).nullable().optional(),
  Assignments: z.array(z.unknown()).nullable().optional(),
  Output: z.unknown().optional(),
  Data: z.string().optional(),
  Cache: z.record(z.string(), z.string()).nullable().optional(),
  Error: z.null().optional(),
});
export type Result = z.infer<typeof ResultSchema>;

/** A stored, served result (`/result`). Numbers travel as strings; `Error` is "" on success. */
export const VmmResultSchema = z.object({
  Nonce: z.string(),
  Timestamp: z.string(),
  "Item-Id": z.string(),
  "From-Process": z.string(),
  "Pushed-For": z.string(),
  Messages: z.array(ResultMessageSchema).nullable(),
  Spawns: z.array(ResultSpawnSchema).nullable(),
  Assignments: z.array(z.unknown()).nullable(),
  Output: z.unknown(),
  Data: z.string(),
  Cache: z.record(z.string(), z.string()).optional(),
  Error: z.string(),
});
export type VmmResult = z.infer<typeof VmmResultSchema>;

export const EnvSchema = z.object({
  Meta: MetaSchema,
  Process: z.object({
    "Data-Protocol": z.string(),
    Variant: z.string(),
    Type: z.string(),
    Module: z.string(),
    Scheduler: z.string(),
    "From-Process": z.string().optional(),
    "Pushed-For": z.string(),
    Tags: z.array(TagSchema).nullable(),
  }),
  Module: z.object({
    "Data-Protocol": z.string(),
    Variant: z.string(),
    Type: z.string(),
    "Module-Format": z.string(),
    "Memory-Limit": z.string(),
    "Compute-Limit": z.string(),
    "Input-Encoding": z.string().optional(),
    "Output-Encoding": z.string().optional(),
    Tags: z.array(TagSchema).nullable(),
  }),
  Nonce: z.number().int(),
  Sequence: z.number().int(),
  "Received-Sequence": z.record(z.string(), z.number().int()),
});
export type Env = z.infer<typeof EnvSchema>;

/** A Module item as the `Module` object of Env and `/module/:mid`: the base fields plus every other non-empty tag. */
export function moduleFromTags(tags: Tag[]): Env["Module"] {
  assertNoDuplicateTags(tags);
  const get = (n: string) => tags.find((t) => t.name === n)?.value ?? "";
  const known = new Set([
    "Data-Protocol",
    "Variant",
    "Type",
    "Module-Format",
    "Memory-Limit",
    "Compute-Limit",
    "Input-Encoding",
    "Output-Encoding",
  ]);
  const m: Env["Module"] = {
    "Data-Protocol": get("Data-Protocol"),
    Variant: get("Variant"),
    Type: get("Type"),
    "Module-Format": get("Module-Format"),
    "Memory-Limit": get("Memory-Limit"),
    "Compute-Limit": get("Compute-Limit"),
    Tags: tags.filter((t) => !known.has(t.name) && t.value !== ""),
  };
  if (get("Input-Encoding")) m["Input-Encoding"] = get("Input-Encoding");
  if (get("Output-Encoding")) m["Output-Encoding"] = get("Output-Encoding");
  if (m.Type !== "Module")
    throw new ProtocolError("err_invalid_type", `Type is ${JSON.stringify(m.Type)}, not Module`);
  return m;
}

/**
 * Who owns a process: the process that spawned it (its From-Process, which the node checked) or
 * else the spawn's signer (`Meta.Acc-Id`) — the same rule as a message's `from`.
 */
export function processOwner(env: Env): string {
  return env.Process["From-Process"] || env.Meta["Acc-Id"];
}
