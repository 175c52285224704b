import { VmdError } from "../errors.js";
import { DataItem } from "../protocol/data-item.js";
import type { VmmResult } from "../protocol/hymx.js";
import type { HymxClient } from "./client.js";

/** The AO module vmdocker builds (`vmdocker module build --ao`), looked up by this Name. */
export const DEFAULT_AO_MODULE_NAME = "web.vmdocker-lua-ao.v0.1.0";

/** Terminal colour codes (aos-style output carries them). */
export const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

const PROCESS_ID = /^[A-Za-z0-9_-]{43}$/;

interface GqlEdge {
  cursor: string;
  node: { id: string; tags: { name: string; value: string }[] };
}

/** What an AO result's Output shows a terminal: its text and the prompt it sets. */
export function outputOf(r: VmmResult): { text: string; prompt?: string; print: boolean } {
  const out = r.Output as { data?: unknown; prompt?: string; print?: boolean } | string | null;
  if (typeof out === "string") return { text: out, print: true };
  const data = out?.data;
  const text =
    typeof data === "string"
      ? data
      : data === undefined || data === null
        ? ""
        : JSON.stringify(data);
  return { text, prompt: out?.prompt, print: out?.print === true };
}

/**
 * One terminal's connection to an AO process on a node (what aos does with `--cu-url`, `--mu-url`
 * and `--scheduler` pointed at the node): find the caller's process by Name through the node's
 * GraphQL or spawn it, evaluate Lua with `Eval`, and follow the process's new results.
 */
export class AoSession {
  private cursor?: string;
  private readonly own = new Set<string>();

  private constructor(
    private readonly client: HymxClient,
    readonly pid: string,
    readonly name: string,
    readonly spawned: boolean,
  ) {}

  private static async graphql(
    client: HymxClient,
    query: string,
    variables: object,
  ): Promise<GqlEdge[]> {
    const res = await client.request("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json().catch(() => ({}))) as {
      data?: { transactions?: { edges?: GqlEdge[] } };
      errors?: { message: string }[];
    };
    if (!res.ok || body.errors?.length)
      throw new VmdError(
        "err_graphql",
        `the node's GraphQL answered ${res.status}: ${body.errors?.[0]?.message ?? "no data"}`,
        "check --url: it must be a vmdocker node",
      );
    return body.data?.transactions?.edges ?? [];
  }

  /** The newest process of the signer named `name` (AO's Data-Protocol/Type/Name tags). */
  static async findProcess(client: HymxClient, name: string): Promise<string | undefined> {
    const edges = await AoSession.graphql(
      client,
      `query ($owners: [String!]!, $name: String!) {
        transactions(first: 1, owners: $owners, sort: HEIGHT_DESC, tags: [
          { name: "Data-Protocol", values: ["ao"] }, { name: "Type", values: ["Process"] }, { name: "Name", values: [$name] }
        ]) { edges { cursor node { id tags { name value } } } }
      }`,
      { owners: [client.address], name },
    );
    return edges[0]?.node.id;
  }

  /** The newest module named `name` the node holds. */
  static async findModule(client: HymxClient, name: string): Promise<string> {
    const edges = await AoSession.graphql(
      client,
      `query ($name: String!) {
        transactions(first: 1, sort: HEIGHT_DESC, tags: [
          { name: "Data-Protocol", values: ["ao"] }, { name: "Type", values: ["Module"] }, { name: "Name", values: [$name] }
        ]) { edges { cursor node { id tags { name value } } } }
      }`,
      { name },
    );
    const id = edges[0]?.node.id;
    if (!id)
      throw new VmdError(
        "err_not_found_mod",
        `the node has no AO module named ${name}`,
        "build one with `vmdocker module build --ao` into the node's mod/ folder, or pass --module ID",
      );
    return id;
  }

  /**
   * Attaches to `target` (a process id), or to the caller's process named `target`, spawning it
   * (AO's spawn tags, Name, the module `moduleId` or the one named DEFAULT_AO_MODULE_NAME) when
   * there is none. Waits until a new process answers.
   */
  static async open(
    client: HymxClient,
    target: string,
    opts: { module?: string; scheduler?: string; timeoutMs?: number } = {},
  ): Promise<AoSession> {
    if (PROCESS_ID.test(target)) {
      if ((await client.nonce(target)) < 0)
        throw new VmdError(
          "err_process_not_found",
          `the node does not run process ${target}`,
          "check the id, or --url",
        );
      return new AoSession(client, target, target, false).startFollowing();
    }
    const found = await AoSession.findProcess(client, target);
    if (found) return new AoSession(client, found, target, false).startFollowing();
    const module = opts.module ?? (await AoSession.findModule(client, DEFAULT_AO_MODULE_NAME));
    const scheduler = opts.scheduler ?? (await client.info()).Node["Acc-Id"];
    const item = DataItem.sign(
      {
        data: "",
        tags: [
          { name: "Data-Protocol", value: "ao" },
          { name: "Variant", value: "ao.TN.1" },
          { name: "Type", value: "Process" },
          { name: "Module", value: module },
          { name: "Scheduler", value: scheduler },
          { name: "Name", value: target },
          { name: "App-Name", value: "vmdocker" },
        ],
      },
      client.signer,
    );
    const pid = await client.submit(item);
    const r = await client.waitResult(pid, pid, opts.timeoutMs ?? 180_000);
    if (r.Error)
      throw new VmdError(
        "err_runtime_spawn",
        `the process ${pid} failed to spawn: ${r.Error.replace(/^spawn failed: /, "")}`,
        "read the node's log",
      );
    return new AoSession(client, pid, target, true).startFollowing();
  }

  /** From now on, `poll` answers only results newer than the latest one. */
  private async startFollowing(): Promise<AoSession> {
    const page = await this.client.aoResults(this.pid, { sort: "DESC", limit: 1 });
    this.cursor = ascending(page[0]?.cursor);
    return this;
  }

  /** Evaluates Lua in the process (owner-only `Eval`) and answers its result. */
  async eval(code: string, timeoutMs = 60_000): Promise<VmmResult> {
    const id = await this.client.message({ pid: this.pid, action: "Eval", data: code });
    this.own.add(id);
    return this.client.waitResult(this.pid, id, timeoutMs);
  }

  /**
   * Lua's syntax error for `code` (compiled in the process with `load`, not run), or undefined
   * when it compiles. One Eval; the process's state does not change.
   */
  async syntaxError(code: string): Promise<string | undefined> {
    let level = "";
    while (code.includes(`]${level}]`)) level += "=";
    const r = await this.eval(
      `local _, e = load([${level}[\n${code}\n]${level}], "=input") return e and ("ERR " .. e) or "OK"`,
    );
    const text = outputOf(r).text.replace(ANSI, "");
    return text.startsWith("ERR ") ? text.slice(4) : undefined;
  }

  /** Results that arrived since the last call (not the answers to this session's own Evals). */
  async poll(): Promise<VmmResult[]> {
    const page = await this.client.aoResults(this.pid, {
      sort: "ASC",
      limit: 100,
      from: this.cursor,
    });
    if (page.length) this.cursor = page[page.length - 1]!.cursor;
    return page.map((e) => e.node).filter((r) => !this.own.delete(r["Item-Id"]));
  }
}

/**
 * The same place as a cursor for ascending pages. A cursor (AO's compute unit's base64url JSON)
 * carries the sort of the page it came from, and that sort wins over the request's, so the newest
 * result's cursor from a DESC page would walk back through older results.
 */
function ascending(cursor: string | undefined): string | undefined {
  if (!cursor) return undefined;
  const fields = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as object;
  return Buffer.from(JSON.stringify({ ...fields, sort: "ASC" })).toString("base64url");
}
