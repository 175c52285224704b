import { DataItem } from "../../src/protocol/data-item.js";
import { messageTags, processTags } from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import type { Tag } from "../../src/protocol/tags.js";
import { CLIENT_KEY } from "./echo-vm.js";

const signer = new EthereumSigner(CLIENT_KEY);

export function spawnItem(module: string, scheduler: string, params: Tag[] = []): DataItem {
  return DataItem.sign(
    {
      data: String(process.hrtime.bigint()),
      tags: [{ name: "SDK-Timestamp", value: "1" }, ...processTags({ module, scheduler, params })],
    },
    signer,
  );
}

export function messageItem(
  pid: string,
  data: string,
  action = "Echo",
  params: Tag[] = [],
): DataItem {
  return DataItem.sign({ target: pid, data, tags: messageTags({ action, params }) }, signer);
}

export async function post(
  url: string,
  item: DataItem | Uint8Array,
): Promise<{ status: number; body: { id?: string; error?: string } }> {
  const res = await fetch(`${url}/`, {
    method: "POST",
    body: item instanceof DataItem ? item.encode() : item,
  });
  return { status: res.status, body: (await res.json()) as { id?: string; error?: string } };
}

export async function getJson<T = unknown>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

export async function waitResult<T = { Data: string; Error: string; Nonce: string }>(
  base: string,
  pid: string,
  id: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await getJson<T | null>(`${base}/result/${pid}/${id}`);
    if (r.body) return r.body;
    if (Date.now() > deadline) throw new Error(`no result for ${id}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** AO's `POST /dry-run?process-id=` with an unsigned message body; the answer's status and JSON. */
export async function postDryRun<
  T = { error?: string; Error?: string; Data?: string; Output?: unknown },
>(url: string, pid: string, body: object): Promise<{ status: number; body: T }> {
  const res = await fetch(`${url}/dry-run?process-id=${pid}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}
