import { DataItem } from "../protocol/data-item.js";
import { messageTags, processTags, type VmmResult } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import type { Tag } from "../protocol/tags.js";
import { ENCRYPTED_PREFIX, eciesEncrypt } from "../protocol/ecies.js";
import { VmdError } from "../errors.js";

export interface ClientOptions {
  url: string;
  signer: Signer;
}

/** A message to send: its process, Action, tags, secrets and data. */
export interface MessageOptions {
  pid: string;
  action?: string;
  tags?: Tag[];
  /** Sent as Encrypted-<K> tags, readable only by the node. */
  secrets?: Record<string, string>;
  data?: string;
}

interface NodeRef {
  URL?: string;
}

/** A small client for a hymx/vmdocker node: submit signed items, read results, follow 308s. */
export class HymxClient {
  private readonly base: string;

  constructor(private readonly opts: ClientOptions) {
    this.base = opts.url.replace(/\/+$/, "");
  }

  get address(): string {
    return this.opts.signer.address;
  }

  /** The node's base URL (no trailing slash). */
  get url(): string {
    return this.base;
  }

  get signer(): Signer {
    return this.opts.signer;
  }

  /**
   * `fetch(url + path, init)` against the node, following hymx's 308 redirects to the node(s)
   * that serve a process. Throws VmdError err_node_unreachable when nothing answers at the URL.
   */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { ...init, redirect: "manual" });
    } catch (err) {
      throw new VmdError(
        "err_node_unreachable",
        `no node answers at ${this.base} (${(err as Error).cause ?? (err as Error).message})`,
        "start one with `vmdocker node`, or pass --url",
      );
    }
    if (res.status !== 308) return res;
    // hymx redirects: the body names the node(s) that serve the process; try each with the same path and body.
    const body = (await res.json().catch(() => null)) as NodeRef | NodeRef[] | null;
    const nodes = (Array.isArray(body) ? body : body ? [body] : [])
      .map((n) => n.URL)
      .filter((u): u is string => !!u);
    const location = res.headers.get("location");
    for (const target of [...nodes, ...(location ? [location] : [])]) {
      const next = await fetch(`${target.replace(/\/+$/, "")}${path}`, {
        ...init,
        redirect: "manual",
      }).catch(() => null);
      if (next && next.status !== 308) return next;
    }
    return res;
  }

  private async getJson<T>(path: string): Promise<T> {
    const res = await this.request(path);
    const body = (await res.json()) as T & { error?: string; message?: string; hint?: string };
    if (res.status >= 400)
      throw new VmdError(
        body?.error ?? "err_request",
        body?.message ?? `${path}: ${body?.error ?? res.status}`,
        body?.hint,
      );
    return body;
  }

  async submit(item: DataItem): Promise<string> {
    return (await this.post(item)).id;
  }

  /**
   * POST / of a signed item. With `waitMs`, a vmdocker node holds the answer until the item's
   * result is stored (within that time, at most 60 s) and sends it along as `result`; upstream
   * nodes, and a result that did not come in time, answer without it.
   * Throws VmdError with the node's err_* code when the item is refused.
   */
  private async post(item: DataItem, waitMs = 0): Promise<{ id: string; result?: VmmResult }> {
    const path = waitMs > 0 ? `/?wait=${Math.round(waitMs)}` : "/";
    const res = await this.request(path, { method: "POST", body: item.encode() });
    const body = (await res.json().catch(() => ({}))) as {
      id?: string;
      error?: string;
      result?: VmmResult | null;
    };
    if (res.status !== 200 || !body.id) {
      throw new VmdError(
        body.error ?? "err_request",
        `the node refused the item: ${body.error ?? `HTTP ${res.status}`}`,
      );
    }
    return body.result ? { id: body.id, result: body.result } : { id: body.id };
  }

  info(): Promise<
    { Node: { "Acc-Id": string }; Token: string; Registry: string } & Record<string, unknown>
  > {
    return this.getJson("/info");
  }

  /** `Encrypted-<K>` tags: each secret ECIES-encrypted to the node's `Encryption-Public-Key`. */
  async encryptedTags(secrets: Record<string, string> = {}): Promise<Tag[]> {
    const entries = Object.entries(secrets);
    if (entries.length === 0) return [];
    const key = (await this.info())["Encryption-Public-Key"];
    if (typeof key !== "string" || !key)
      throw new VmdError(
        "err_no_encryption_key",
        `the node at ${this.base} publishes no Encryption-Public-Key`,
        "it needs an Ethereum key (prvKey or the generated one); Arweave-keyed nodes cannot decrypt",
      );
    return entries.map(([k, v]) => ({
      name: `${ENCRYPTED_PREFIX}${k}`,
      value: eciesEncrypt(key, v),
    }));
  }

  async spawn(opts: {
    module: string;
    scheduler?: string;
    tags?: Tag[];
    /** Sent as Encrypted-<K> tags, readable only by the node. */
    secrets?: Record<string, string>;
    data?: string;
  }): Promise<string> {
    const scheduler = opts.scheduler ?? (await this.info()).Node["Acc-Id"];
    const params = [...(opts.tags ?? []), ...(await this.encryptedTags(opts.secrets))];
    const tags = [
      { name: "SDK-Timestamp", value: String(Date.now() * 1e6) },
      ...processTags({ module: opts.module, scheduler, params }),
    ];
    return this.submit(
      DataItem.sign({ data: opts.data ?? String(Date.now() * 1e6), tags }, this.opts.signer),
    );
  }

  async message(opts: MessageOptions): Promise<string> {
    return this.submit(await this.messageItem(opts));
  }

  /**
   * Sends a message and waits for its result: one POST that a vmdocker node answers with the
   * result once it is stored, then `waitResult` for what is left of `timeoutMs` when the answer
   * came without it (an upstream node, a long apply). Throws VmdError err_timeout.
   */
  async messageAndWait(
    opts: MessageOptions,
    timeoutMs = 60_000,
  ): Promise<{ id: string; result: VmmResult }> {
    const deadline = Date.now() + timeoutMs;
    const sent = await this.post(await this.messageItem(opts), Math.min(timeoutMs, 30_000));
    if (sent.result) return { id: sent.id, result: sent.result };
    const left = Math.max(1, deadline - Date.now());
    return { id: sent.id, result: await this.waitResult(opts.pid, sent.id, left) };
  }

  private async messageItem(opts: MessageOptions): Promise<DataItem> {
    const params = [...(opts.tags ?? []), ...(await this.encryptedTags(opts.secrets))];
    const tags = [
      { name: "SDK-Timestamp", value: String(Date.now() * 1e6) },
      ...messageTags({ action: opts.action, params }),
    ];
    return DataItem.sign({ target: opts.pid, data: opts.data ?? "", tags }, this.opts.signer);
  }

  /**
   * The result of a message, or null. With `waitMs`, a vmdocker node answers as soon as the result
   * is stored (within that time, at most 60 s); upstream nodes ignore it and answer at once.
   */
  result(pid: string, msgId: string, waitMs = 0): Promise<VmmResult | null> {
    return this.getJson(
      `/result/${pid}/${msgId}${waitMs > 0 ? `?wait=${Math.round(waitMs)}` : ""}`,
    );
  }

  /**
   * Waits for a message's result: one request that the node holds until the result is stored,
   * and polling with back-off (20 ms up to 0.5 s) for nodes that answer at once.
   * Throws VmdError err_timeout after `timeoutMs`.
   */
  async waitResult(pid: string, msgId: string, timeoutMs = 60_000): Promise<VmmResult> {
    const deadline = Date.now() + timeoutMs;
    let delay = 20;
    for (;;) {
      const left = deadline - Date.now();
      const r = await this.result(pid, msgId, Math.max(1, Math.min(left, 30_000)));
      if (r) return r;
      if (Date.now() > deadline)
        throw new VmdError(
          "err_timeout",
          `no result for ${msgId} after ${timeoutMs / 1000} s`,
          "the process may still be working: read it later with `vmdocker result`",
        );
      await new Promise((res) => setTimeout(res, delay));
      delay = Math.min(500, delay * 2);
    }
  }

  async results(pid: string, limit = 5): Promise<VmmResult[]> {
    const r = await this.getJson<{ edges: { node: VmmResult }[] }>(
      `/results/${pid}?limit=${limit}`,
    );
    return r.edges.map((e) => e.node);
  }

  /** A process's current nonce (-1: the node does not know it). */
  async nonce(pid: string): Promise<number> {
    return Number(await this.getJson<number | string>(`/nonce/${pid}`));
  }

  /** AO's `/results` page: results with their cursors, `from` (exclusive) onwards in `sort` order. */
  async aoResults(
    pid: string,
    q: { sort: "ASC" | "DESC"; limit: number; from?: string },
  ): Promise<{ cursor: string; node: VmmResult }[]> {
    const params = new URLSearchParams({ sort: q.sort, limit: String(q.limit) });
    if (q.from) params.set("from", q.from);
    const r = await this.getJson<{ edges: { cursor: string; node: VmmResult }[] }>(
      `/results/${pid}?${params}`,
    );
    return r.edges;
  }
}
