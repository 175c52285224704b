import { toB64Url } from "../protocol/base64url.js";
import type { DataItem } from "../protocol/data-item.js";
import { decryptParams, ENCRYPTED_PREFIX, type Cryptor } from "../protocol/ecies.js";
import {
  DATA_PROTOCOL,
  extractParams,
  processParamTags,
  VARIANT,
  type Env,
  type Meta,
} from "../protocol/hymx.js";
import type { Tag } from "../protocol/tags.js";

/** The value of the first tag called `name`, or "". */
export const tagOf = (tags: Tag[], name: string): string =>
  tags.find((t) => t.name === name)?.value ?? "";

/** A process's Env at spawn (nonce 0, no sequence yet), from its spawn item and module. */
export function spawnEnv(pid: string, item: DataItem, module: Env["Module"]): Env {
  return {
    Meta: itemMeta(pid, item, 0, 0, "Process"),
    Process: {
      "Data-Protocol": DATA_PROTOCOL,
      Variant: VARIANT,
      Type: "Process",
      Module: item.tag("Module") ?? "",
      Scheduler: item.tag("Scheduler") ?? "",
      ...(item.tag("From-Process") ? { "From-Process": item.tag("From-Process") } : {}),
      "Pushed-For": item.tag("Pushed-For") ?? "",
      Tags: processParamTags(item),
    },
    Module: module,
    Nonce: 0,
    Sequence: -1,
    "Received-Sequence": {},
  };
}

/**
 * hymx's Meta of an item at a nonce: who sent it, its params and its data (base64url).
 * Throws ProtocolError on duplicate tags.
 */
export function itemMeta(
  pid: string,
  item: DataItem,
  nonce: number,
  timestamp: number,
  kind: "Process" | "Message",
): Meta {
  const t = item.tags;
  return {
    "Item-Id": item.id,
    Pid: pid,
    "Acc-Id": item.address,
    Action: kind === "Message" ? tagOf(t, "Action") : "",
    "From-Process": tagOf(t, "From-Process"),
    "Pushed-For": tagOf(t, "Pushed-For"),
    Sequence: Number(tagOf(t, "Sequence")) || 0,
    Nonce: nonce,
    Timestamp: timestamp,
    Params: extractParams(item, kind),
    Data: toB64Url(item.data),
  };
}

/**
 * What a VM is given: each `Encrypted-<K>` param also as `<K>`, decrypted with the node's key
 * (hymx v0.5.0's rule). A copy: what is stored and checkpointed keeps the ciphertext.
 */
export function metaWithSecrets(meta: Meta, cryptor: Cryptor | undefined): Meta {
  if (!cryptor) return meta;
  return { ...meta, Params: decryptParams(meta.Params, (c) => cryptor.decrypt(c)) };
}

/** The same rule for a spawn's `Encrypted-<K>` tags: added decrypted as `<K>` to a copy of the Env. */
export function envWithSecrets(env: Env, cryptor: Cryptor | undefined): Env {
  const tags = env.Process.Tags ?? [];
  if (!cryptor || !tags.some((t) => t.name.startsWith(ENCRYPTED_PREFIX))) return env;
  const params = Object.fromEntries(tags.map((t) => [t.name, t.value]));
  const plain = decryptParams(params, (c) => cryptor.decrypt(c));
  const added = Object.keys(plain)
    .filter((k) => !Object.hasOwn(params, k))
    .map((k) => ({ name: k, value: plain[k]! }));
  return { ...env, Process: { ...env.Process, Tags: [...tags, ...added] } };
}
