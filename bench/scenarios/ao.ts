import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildModule } from "../../src/module/build.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import { extractAoWasm } from "../../src/runtime/images/ao-sources.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import {
  AoProcess,
  AO_MODULE_FORMAT,
  type AoEnv,
  type AoMessage,
} from "../../src/runtimes/ao-process.js";
import { bounded } from "../lib/bounded.js";
import { messageData, poll, spawnProcess, type BenchNode } from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, summarize, timedRow } from "../lib/stats.js";

/** Lua that makes a process count `Count` messages and answer `Ping` with `Pong`. */
const SETUP = `Handlers.add("count", "Count", function(m) N = (N or 0) + 1 end)
Handlers.add("ping", "Ping", function(m) m.reply({Action = "Pong"}) end)
Handlers.add("pong", "Pong", function(m) Pongs = (Pongs or 0) + 1 end)
Handlers.add("go", "Go", function(m) Send({Target = m.Peer, Action = "Ping"}) end)`;

async function evalOn(node: BenchNode, pid: string, code: string) {
  const id = await node.client.message({ pid, action: "Eval", data: code });
  const r = await poll(() => node.client.result(pid, id), `eval on ${pid}`, 5);
  if (r.Error) throw new Error(`setup Eval failed: ${r.Error}`);
}

/** messages/s through the node: `per` Count messages to each process, 16 in flight, until all are readable. */
async function throughNode(node: BenchNode, pids: string[], per: number): Promise<number> {
  const t = now();
  const sent: [string, string][] = [];
  await bounded(
    pids.flatMap((pid) =>
      Array.from({ length: per }, () => async () => {
        sent.push([pid, await node.client.message({ pid, action: "Count", data: messageData() })]);
      }),
    ),
  );
  await Promise.all(
    pids.map(async (pid) => {
      for (const [p, id] of sent)
        if (p === pid) await poll(() => node.client.result(pid, id), `message ${id}`, 5);
    }),
  );
  return (pids.length * per) / ((now() - t) / 1000);
}

/** The in-process floor: AO's loader evaluating the same module, one process after another. */
class Floor {
  private n = 0;
  readonly env: AoEnv = {
    Process: {
      Id: "floor-process-id-000000000000000000000000000",
      Owner: "owner",
      Tags: [{ name: "Scheduler", value: "node" }],
    },
    Module: { Id: "module", Owner: "", Tags: [] },
  };
  constructor(private readonly wasm: Uint8Array) {}

  msg(
    target: string,
    action: string,
    from = "owner",
    extra: { name: string; value: string }[] = [],
  ): AoMessage {
    this.n++;
    return {
      Id: `m${this.n}`,
      Owner: from === "owner" ? "owner" : "node",
      From: from,
      Target: target,
      Tags: [{ name: "Action", value: action }, ...extra],
      Data: "",
      Timestamp: String(1_700_000_000_000 + this.n),
      Nonce: String(this.n),
      "Block-Height": "0",
      Module: "module",
      Cron: false,
    };
  }

  async process(id: string): Promise<AoProcess> {
    const p = new AoProcess(this.wasm, { format: AO_MODULE_FORMAT });
    const env = this.envOf(id);
    await p.evaluate(
      { ...this.msg(id, ""), Id: id, Tags: [{ name: "Type", value: "Process" }] },
      env,
    );
    await p.evaluate({ ...this.msg(id, "Eval"), Data: SETUP }, env);
    return p;
  }

  envOf(id: string): AoEnv {
    return { ...this.env, Process: { ...this.env.Process, Id: id } };
  }
}

export const aoScenario: Scenario = {
  name: "ao",
  describe:
    "AO processes (Lua in WebAssembly in containers): messages/s through 1 and 16 processes, a round trip A→B→A, vs AO's loader in-process on the same module",
  async unavailable(ctx) {
    return (await ctx.docker.inspectImage(IMAGES["runtime-ao"]))
      ? undefined
      : `${IMAGES["runtime-ao"]} is not built`;
  },
  async run(ctx, emit) {
    const mod = await buildModule(
      ctx.docker,
      {
        source: { mode: "pull", image: IMAGES["runtime-ao"] },
        signer: new EthereumSigner("44".repeat(32)),
        outDir: join(ctx.base, "ao-mod"),
        startCommand: RUNTIME_START_COMMAND,
        ao: true,
      },
      silentProgress,
    );
    const wasm = await extractAoWasm(
      ctx.docker,
      IMAGES["runtime-ao"],
      join(ctx.base, "process.wasm"),
    );
    const floor = new Floor(new Uint8Array(readFileSync(wasm)));
    const node = await ctx.node({}, [mod.file]);
    const total = ctx.quick ? 64 : 480;
    for (const count of [1, ctx.quick ? 4 : 16]) {
      const pids: string[] = [];
      for (let i = 0; i < count; i++) {
        const pid = await spawnProcess(node, mod.id);
        await evalOn(node, pid, SETUP);
        pids.push(pid);
      }
      const local = await Promise.all(
        pids.map((_, i) => floor.process(`floor-${count}-${i}`.padEnd(43, "x"))),
      );
      const per = Math.ceil(total / count);
      const s = await interleaved(
        ctx.quick ? 2 : 4,
        () => throughNode(node, pids, per),
        async () => {
          const t = now();
          for (let i = 0; i < local.length; i++) {
            const id = `floor-${count}-${i}`.padEnd(43, "x");
            for (let k = 0; k < per; k++)
              await local[i]!.evaluate(floor.msg(id, "Count"), floor.envOf(id));
          }
          return (local.length * per) / ((now() - t) / 1000);
        },
      );
      emit({
        scenario: "ao",
        metric: `messages, ${count} process${count > 1 ? "es" : ""}`,
        unit: "msg/s",
        better: "higher",
        ours: summarize(s.ours),
        baseline: summarize(s.baseline),
        baselineLabel: "AO's loader in-process, same module, one message at a time",
      });
    }

    // Round trip: A gets Go, sends Ping to B, B replies Pong, A counts it.
    const a = await spawnProcess(node, mod.id);
    const b = await spawnProcess(node, mod.id);
    for (const pid of [a, b]) await evalOn(node, pid, SETUP);
    const la = await floor.process("floor-a".padEnd(43, "a"));
    const lb = await floor.process("floor-b".padEnd(43, "b"));
    const [ida, idb] = ["floor-a".padEnd(43, "a"), "floor-b".padEnd(43, "b")];
    const rounds = ctx.quick ? 3 : 10;
    const s = await interleaved(
      rounds,
      async () => {
        const before = await node.running.store.resultCount(a);
        const t = now();
        await node.client.message({
          pid: a,
          action: "Go",
          data: messageData(),
          tags: [{ name: "Peer", value: b }],
        });
        // Go's result, then the Pong's: A has two more results.
        await poll(
          async () => ((await node.running.store.resultCount(a)) >= before + 2 ? true : undefined),
          "the round trip",
          2,
        );
        return now() - t;
      },
      async () => {
        const t = now();
        const go = await la.evaluate(
          floor.msg(ida, "Go", "owner", [{ name: "Peer", value: idb }]),
          floor.envOf(ida),
        );
        const ping = go.Messages[0]!;
        const atB = await lb.evaluate(
          { ...floor.msg(idb, "Ping", ida), Tags: ping.Tags },
          floor.envOf(idb),
        );
        const pong = atB.Messages[0]!;
        await la.evaluate({ ...floor.msg(ida, "Pong", idb), Tags: pong.Tags }, floor.envOf(ida));
        return now() - t;
      },
    );
    emit(
      timedRow(
        "ao",
        "round trip A→B→A",
        s,
        "AO's loader in-process: the three evaluations back to back",
      ),
    );
  },
};
