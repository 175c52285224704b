import type { Meta, Runtime, RuntimeFactory, RuntimeResult } from "./runtime.js";

/** What the test runtime answers for the `count`-th apply (pure: no state is touched). */
function answer(
  count: number,
  from: string,
  meta: Meta,
  params: Record<string, string>,
): RuntimeResult {
  const action = (meta.Action as string) || params.Action || "Echo";
  const data =
    action === "Ping" ? "Pong" : params.Data || (meta.Data as string) || "test-runtime-ok";
  const sequence = params.Reference || String(meta.Sequence ?? "");
  const target = from || params.From || "";
  return {
    Messages: [
      {
        Target: target,
        Data: data,
        Tags: [
          { name: "Data-Protocol", value: "ao" },
          { name: "Variant", value: "hymatrix0.1" },
          { name: "Type", value: "Message" },
          { name: "Runtime", value: "test" },
          { name: "Action", value: action },
          { name: "Reference", value: sequence },
        ],
      },
    ],
    Spawns: [],
    Assignments: [],
    Output: {
      runtime: "test",
      action,
      pid: meta.Pid,
      itemId: meta["Item-Id"],
      from,
      sequence,
      count,
    },
    Data: data,
    Cache: { runtime: "test", action, count: String(count) },
    Error: null,
  };
}

/**
 * vmdocker_agent's `test` runtime: Ping → Pong, Echo (the default) → the data, one message back to
 * the sender; open to anyone. Unlike upstream it also counts applies in memory (Output.count,
 * Cache.count) and checkpoints that count, so checkpoint/restore can be observed, and it can
 * dry-run: the answer the next apply would give, with the count left as it is.
 */
export const testRuntime: RuntimeFactory = async ({ state }) => {
  let count = state ? Number((JSON.parse(state) as { count?: number }).count ?? 0) : 0;
  const runtime: Runtime = {
    async apply(from, meta, params) {
      count++;
      return answer(count, from, meta, params);
    },
    async dryRun(from, meta, params) {
      return answer(count + 1, from, meta, params);
    },
    async checkpoint() {
      return JSON.stringify({ count });
    },
  };
  return runtime;
};
