// A fuzzer for POST / : mutated ANS-104 items (bit flips, truncations, length fields, tag
// sections, re-dressed signatures) and freshly signed items with hostile tag sections, sent one at
// a time to a running node. Shared by test/node/fuzz.test.ts (a small count) and bench/ (100,000).
import { readFileSync } from "node:fs";
import { DataItem } from "../../src/protocol/data-item.js";
import { messageTags, processTags } from "../../src/protocol/hymx.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { startEchoNode } from "./child-node.js";
import { post, spawnItem, waitResult } from "./client.js";
import { writeEchoModule } from "./echo-vm.js";
import { avroTags, signedWithRawTags } from "./raw-item.js";
import { redressings } from "./redress.js";

/** A small, seeded PRNG (mulberry32): a failing run is repeated with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzTarget {
  url: string;
  /** The OS pid of the node's process (its memory is read from /proc). */
  osPid: number;
  /** A process of the echo VM on that node, and its module and scheduler. */
  processId: string;
  moduleId: string;
  scheduler: string;
}

export interface FuzzReport {
  seed: number;
  sent: number;
  accepted: number;
  /** Refusals by error code. */
  refused: Record<string, number>;
  /** Requests per mutation kind. */
  kinds: Record<string, number>;
  /** What went wrong (empty when the node behaved): crashes, hangs, codeless answers, double accepts. */
  failures: string[];
  latenciesMs: number[];
  /** Answers slower than 1 s that the machine's load explained (see holdsNodeUp). */
  slowUnderLoad: number;
  /** The node's resident memory (bytes) after the warm-up (the first third), at the end, and the highest seen. */
  rss: { afterWarmup: number; end: number; max: number };
}

/** An item answered slower than this while the node answers other requests in time is a hang. */
const HANG_MS = 1000;
/** No answer at all within this is a hang at once. */
const GIVE_UP_MS = 10_000;

function rssOf(osPid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${osPid}/status`, "utf8"))?.[1];
  return Number(kb ?? 0) * 1024;
}

/**
 * Tells an item that holds the node up from a machine busy with other work (other tests, other
 * builds): the item is sent again, then the node is asked for /info. Slow again while /info comes
 * back in time: the item is the cause (a reason is returned). Both slow: the machine is busy; wait
 * and try again, up to 10 times (then the node is too slow for anything, which is a failure too).
 */
async function holdsNodeUp(
  url: string,
  send: () => Promise<{ ms: number }>,
): Promise<string | undefined> {
  for (let round = 0; round < 10; round++) {
    const again = await send();
    if (again.ms <= HANG_MS) return undefined;
    const started = performance.now();
    await fetch(`${url}/info`, { signal: AbortSignal.timeout(GIVE_UP_MS) });
    const probe = performance.now() - started;
    if (probe <= HANG_MS / 4)
      return `again after ${again.ms.toFixed(0)} ms while /info took ${probe.toFixed(0)} ms`;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return `the node stayed slower than ${HANG_MS} ms for ten rounds`;
}

/**
 * Sends `count` items and checks every answer: a 400 with an error code, or a 200 for content the
 * node never accepted before (and a replay of an accepted item must then be err_duplicate_item).
 * An item answered slower than 1 s while the node answers /info in time, or no answer in 10 s, is
 * a hang (see holdsNodeUp).
 */
export async function fuzzNode(
  target: FuzzTarget,
  count: number,
  seed: number,
  onProgress?: (done: number) => void,
): Promise<FuzzReport> {
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const signer = new EthereumSigner(
    Buffer.from(Array.from({ length: 32 }, () => 1 + int(254))).toString("hex"),
  );
  const report: FuzzReport = {
    seed,
    sent: 0,
    accepted: 0,
    refused: {},
    kinds: {},
    failures: [],
    latenciesMs: [],
    slowUnderLoad: 0,
    rss: { afterWarmup: 0, end: 0, max: 0 },
  };
  const acceptedContent = new Set<string>();
  const acceptedRaw: Buffer[] = [];
  const fail = (why: string) => {
    if (report.failures.length < 20) report.failures.push(why);
    else if (report.failures.length === 20) report.failures.push("… more failures left out");
  };

  let fresh = 0;
  const message = (tags = messageTags({ action: "Echo" })) =>
    DataItem.sign({ target: target.processId, data: `fuzz ${seed}:${fresh++}`, tags }, signer);
  const spawn = () =>
    DataItem.sign(
      {
        data: `fuzz spawn ${seed}:${fresh++}`,
        tags: processTags({ module: target.moduleId, scheduler: target.scheduler }),
      },
      signer,
    );

  /** A signed message whose tag section is given as raw bytes (numTags as claimed). */
  const rawTagged = (tagsBytes: Buffer, numTags: number): Buffer =>
    signedWithRawTags(
      signer,
      target.processId,
      tagsBytes,
      numTags,
      Buffer.from(`fuzz raw ${seed}:${fresh++}`),
    );

  const hostileTagSection = (): { bytes: Buffer; count: number } => {
    const base = messageTags({ action: "Echo" });
    const pairs: [Buffer, Buffer][] = base.map((t) => [Buffer.from(t.name), Buffer.from(t.value)]);
    const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
    switch (int(7)) {
      case 0: // invalid UTF-8 in a value
        pairs.push([Buffer.from("X-Note"), randomBytes(1 + int(8))]);
        break;
      case 1: // a duplicate protocol tag
        pairs.push([Buffer.from("Type"), Buffer.from("Message")]);
        break;
      case 2: // too many tags
        for (let i = 0; i < 129; i++) pairs.push([Buffer.from(`T${i}`), Buffer.from("v")]);
        break;
      case 3: // an over-long value or name
        pairs.push([Buffer.from("X-Long"), Buffer.alloc(3073, 0x61)]);
        break;
      case 4: // well-formed exotic text (accepted)
        pairs.push([Buffer.from(`X-\u00e9${int(1000)}`), Buffer.from("\u{1f600}\ufeff\u2713")]);
        break;
      case 5: // an empty name and value
        pairs.push([Buffer.alloc(0), Buffer.alloc(0)]);
        break;
      default: // a name that is special to JavaScript objects
        pairs.push([Buffer.from(pick(["__proto__", "constructor", "toString"])), Buffer.from("x")]);
    }
    return { bytes: avroTags(pairs), count: pairs.length };
  };

  /** One mutated item; the kind says how it was made. */
  const next = (): { kind: string; bytes: Buffer } => {
    if (acceptedRaw.length && rand() < 0.05)
      return { kind: "replay of an accepted item", bytes: pick(acceptedRaw) };
    const how = int(10);
    // Spawns are mutated, never sent intact: every accepted spawn is a process the node then keeps.
    const item = how < 7 && rand() < 0.05 ? spawn() : message();
    const raw = item.encode();
    const tagsAt = 2 + 65 + 65 + 1 + (item.target.length ? 32 : 0) + 1;
    switch (how) {
      case 0: {
        const out = Buffer.from(raw);
        for (let i = 1 + int(8); i > 0; i--) {
          const at = int(out.length);
          out[at] = out[at]! ^ (1 << int(8));
        }
        return { kind: "bit flips", bytes: out };
      }
      case 1:
        return { kind: "truncation", bytes: raw.subarray(0, int(raw.length)) };
      case 2: {
        const out = Buffer.from(raw);
        const values = [0n, 1n, 2n, 127n, 128n, 2n ** 31n, 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n];
        out.writeBigUInt64LE(pick(values), tagsAt + (rand() < 0.5 ? 0 : 8));
        return { kind: "length fields", bytes: out };
      }
      case 3: {
        const out = Buffer.from(raw);
        const start = tagsAt + 16;
        const len = Number(out.readBigUInt64LE(tagsAt + 8));
        for (let i = 1 + int(4); i > 0; i--) out[start + int(Math.max(1, len))] = int(256);
        return { kind: "tag section bytes", bytes: out };
      }
      case 4: {
        const out = Buffer.from(raw);
        if (rand() < 0.5) out.writeUInt16LE(pick([0, 1, 2, 4, 5, 0xffff]), 0);
        else out[pick([2 + 65 + 65, tagsAt - 1])] = pick([2, 127, 255]);
        return { kind: "type and presence bytes", bytes: out };
      }
      case 5:
        return { kind: "re-dressed signature", bytes: pick(redressings(item)).bytes };
      case 6:
        return {
          kind: "appended bytes",
          bytes: Buffer.concat([
            raw,
            Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256))),
          ]),
        };
      case 7: {
        const { bytes, count: n } = hostileTagSection();
        return { kind: "signed hostile tags", bytes: rawTagged(bytes, n) };
      }
      case 8: {
        // A signed tag section whose Avro framing lies (counts, lengths, varints).
        const framing = [
          Buffer.from([0x01, 0x02, 0x61, 0x02, 0x62, 0x00]), // count -1 with a block size
          Buffer.from([0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), // huge length
          Buffer.from([0x02, 0x02, 0x61]), // cut short
          Buffer.from([0x04, 0x02, 0x61, 0x02, 0x62, 0x00]), // fewer tags than counted
          Buffer.from([0x02, 0x02, 0x61, 0x02, 0x62, 0x00, 0x00]), // trailing bytes
        ];
        return { kind: "signed broken Avro", bytes: rawTagged(pick(framing), 1 + int(3)) };
      }
      default:
        return { kind: "valid item", bytes: raw };
    }
  };

  // The first third warms the node up (JIT, heap, SQLite cache); memory must be flat after it.
  const warmup = Math.floor(count / 3);
  for (let i = 0; i < count; i++) {
    const { kind, bytes } = next();
    report.kinds[kind] = (report.kinds[kind] ?? 0) + 1;
    const isReplay = kind === "replay of an accepted item";
    const send = async () => {
      const started = performance.now();
      const res = await fetch(`${target.url}/`, {
        method: "POST",
        body: bytes,
        signal: AbortSignal.timeout(GIVE_UP_MS),
      });
      const body = (await res.json().catch(() => ({}))) as { id?: string; error?: unknown };
      return { status: res.status, body, ms: performance.now() - started };
    };
    let answer: Awaited<ReturnType<typeof send>>;
    try {
      answer = await send();
      if (answer.ms > HANG_MS) {
        report.slowUnderLoad++;
        const why = await holdsNodeUp(target.url, send);
        if (why) fail(`${kind} #${i}: answered after ${answer.ms.toFixed(0)} ms; ${why}`);
      }
    } catch (err) {
      const e = err as Error;
      fail(
        `${kind} #${i}: ${e.name === "TimeoutError" ? `no answer in ${GIVE_UP_MS} ms` : `request failed: ${e.message}`}`,
      );
      report.sent++;
      continue;
    }
    const { status, body, ms } = answer;
    report.latenciesMs.push(ms);
    report.sent++;
    if (status === 200 && typeof body.id === "string") {
      if (isReplay) fail(`${kind} #${i}: accepted again as ${body.id}`);
      let key: string;
      try {
        key = DataItem.decode(bytes).deepHash().toString("base64url");
      } catch (err) {
        fail(`${kind} #${i}: accepted an item that does not parse: ${(err as Error).message}`);
        continue;
      }
      if (acceptedContent.has(key)) fail(`${kind} #${i}: the same signed content accepted twice`);
      acceptedContent.add(key);
      acceptedRaw.push(bytes);
      report.accepted++;
    } else if (
      status === 400 &&
      typeof body.error === "string" &&
      /^(err_[a-z_]+|duplicate tag: )/.test(body.error)
    ) {
      const code = body.error.startsWith("duplicate tag") ? "duplicate tag" : body.error;
      report.refused[code] = (report.refused[code] ?? 0) + 1;
      if (isReplay && code !== "err_duplicate_item") fail(`${kind} #${i}: refused with ${code}`);
    } else fail(`${kind} #${i}: HTTP ${status} ${JSON.stringify(body).slice(0, 200)}`);
    if (i === warmup) report.rss.afterWarmup = rssOf(target.osPid);
    if (i % 250 === 0) report.rss.max = Math.max(report.rss.max, rssOf(target.osPid));
    if (onProgress && i % 1000 === 0) onProgress(i);
  }
  report.rss.end = rssOf(target.osPid);
  report.rss.max = Math.max(report.rss.max, report.rss.end);
  if (!report.rss.afterWarmup) report.rss.afterWarmup = report.rss.end;
  // Everything accepted is stored once, under its id.
  for (const raw of acceptedRaw.slice(0, 200)) {
    const id = DataItem.decode(raw).id;
    const res = await fetch(`${target.url}/message/${id}`);
    const stored = (await res.json()) as { id?: string } | null;
    if (stored?.id !== id) fail(`accepted item ${id} is not stored`);
  }
  return report;
}

/**
 * Fuzzes a fresh echo-VM node in its own process (folder `base`): starts it, spawns the process
 * the messages go to, sends `count` items. Resolves with the report and whether the node is still
 * running; the node is killed afterwards.
 */
export async function fuzzEchoNode(
  base: string,
  count: number,
  seed: number,
  onProgress?: (done: number) => void,
): Promise<{ report: FuzzReport; alive: boolean }> {
  const moduleId = await writeEchoModule(base);
  const node = await startEchoNode(base);
  try {
    const spawn = spawnItem(moduleId, node.address);
    const spawned = await post(node.url, spawn);
    if (spawned.status !== 200) throw new Error(`the spawn was refused: ${spawned.body.error}`);
    await waitResult(node.url, spawn.id, spawn.id);
    const report = await fuzzNode(
      {
        url: node.url,
        osPid: node.child.pid!,
        processId: spawn.id,
        moduleId,
        scheduler: node.address,
      },
      count,
      seed,
      onProgress,
    );
    return { report, alive: node.child.exitCode === null };
  } finally {
    node.child.kill("SIGKILL");
  }
}
