// The load generator, run as a process of its own (fork of this file) so that the client's work
// does not share the harness's event loop, where the node runs. Items are signed when the parent
// asks for them (`prepare`), before anything is timed; the timed commands only send and read.
// Protocol: the parent sends one LoadCommand at a time over IPC and gets one LoadAnswer back.
import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { DataItem } from "../../src/protocol/data-item.js";
import { messageTags } from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { applyBody } from "./apply-body.js";
import { bounded } from "./bounded.js";

/** How a client learns that a result is readable: polling GET /result every `pollMs`, or one GET that waits. */
export type ReadMode = { kind: "poll"; pollMs: number } | { kind: "wait" };

export type LoadCommand =
  /** Signs `count` Echo messages to each process, kept for the `node*` commands (in order per process). */
  | { cmd: "prepare"; pids: string[]; count: number }
  /** One message to the node until its result is readable; answers milliseconds. */
  | { cmd: "node-one"; url: string; pid: string; read: ReadMode }
  /** `perProcess` messages to each process, `inFlight` at a time, until every result is readable; answers msg/s. */
  | {
      cmd: "node-many";
      url: string;
      pids: string[];
      perProcess: number;
      inFlight: number;
      read: ReadMode;
    }
  /** One `POST /vmm/apply` straight to a runtime; answers milliseconds. */
  | { cmd: "direct-one"; url: string }
  /** `perProcess` direct applies to each runtime, `inFlight` at a time; answers msg/s. */
  | { cmd: "direct-many"; urls: string[]; perProcess: number; inFlight: number };

export type LoadAnswer = { ok: true; value: number } | { ok: false; error: string };

/** One keep-alive agent for every request, to the node and to runtimes alike. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

interface Answer {
  status: number;
  text: string;
}

function http(method: string, url: string, body?: Uint8Array | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: body
          ? {
              "content-type":
                typeof body === "string" ? "application/json" : "application/octet-stream",
              "content-length": Buffer.byteLength(body),
            }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const signer = new EthereumSigner(randomBytes(32).toString("hex"));
const prepared = new Map<string, { id: string; bytes: Buffer }[]>();
let serial = 0;

function prepare(pids: string[], count: number): void {
  for (const pid of pids) {
    const list = prepared.get(pid) ?? [];
    for (let i = 0; i < count; i++) {
      const item = DataItem.sign(
        {
          target: pid,
          // distinct data: two identical items signed in the same millisecond would share an id
          data: `m${++serial}-${process.pid}`,
          tags: messageTags({ action: "Echo", params: [] }),
        },
        signer,
      );
      list.push({ id: item.id, bytes: item.encode() });
    }
    prepared.set(pid, list);
  }
}

function next(pid: string): { id: string; bytes: Buffer } {
  const item = prepared.get(pid)?.shift();
  if (!item) throw new Error(`no prepared message left for ${pid}: prepare more`);
  return item;
}

async function submit(url: string, pid: string): Promise<string> {
  const { id, bytes } = next(pid);
  const res = await http("POST", `${url}/`, bytes);
  if (res.status !== 200) throw new Error(`the node refused a message: ${res.text}`);
  return id;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function readable(url: string, pid: string, id: string, read: ReadMode): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const path = read.kind === "wait" ? `?wait=30000` : "";
    const res = await http("GET", `${url}/result/${pid}/${id}${path}`);
    if (res.status !== 200) throw new Error(`GET /result answered ${res.status}: ${res.text}`);
    const result = JSON.parse(res.text) as { Error?: string } | null;
    if (result) {
      if (result.Error) throw new Error(`message failed: ${result.Error}`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`no result for ${id} in 120 s`);
    if (read.kind === "poll") await sleep(read.pollMs);
  }
}

let applied = 0;
const nextApply = () => {
  const n = ++applied;
  return JSON.stringify(applyBody("bench", n, `m${n}`));
};

async function direct(url: string): Promise<void> {
  const res = await http("POST", `${url}/vmm/apply`, nextApply());
  if (res.status !== 200) throw new Error(`direct apply: ${res.text}`);
}

const rate = (count: number, ms: number) => count / (ms / 1000);

async function run(c: LoadCommand): Promise<number> {
  const t = performance.now();
  switch (c.cmd) {
    case "prepare":
      prepare(c.pids, c.count);
      return performance.now() - t;
    case "node-one":
      await readable(c.url, c.pid, await submit(c.url, c.pid), c.read);
      return performance.now() - t;
    case "node-many": {
      // Each message is read as soon as it is accepted, as a client waiting on its own message would.
      const jobs = c.pids.flatMap((pid) =>
        Array.from({ length: c.perProcess }, () => async () => {
          await readable(c.url, pid, await submit(c.url, pid), c.read);
        }),
      );
      await bounded(jobs, c.inFlight);
      return rate(jobs.length, performance.now() - t);
    }
    case "direct-one":
      await direct(c.url);
      return performance.now() - t;
    case "direct-many": {
      const jobs = c.urls.flatMap((url) =>
        Array.from({ length: c.perProcess }, () => () => direct(url)),
      );
      await bounded(jobs, c.inFlight);
      return rate(jobs.length, performance.now() - t);
    }
  }
}

process.on("message", (c: LoadCommand) => {
  run(c).then(
    (value) => process.send!({ ok: true, value } satisfies LoadAnswer),
    (err: unknown) =>
      process.send!({
        ok: false,
        error: err instanceof Error ? err.message : String(err),
      } satisfies LoadAnswer),
  );
});
process.on("disconnect", () => process.exit(0));
