import type { Runtime, RuntimeFactory } from "./runtime.js";

/**
 * vmdocker_agent's `test` runtime: Ping → Pong, Echo (the default) → the data, one message back to
 * the sender. Unlike upstream it also counts applies in memory (Output.count, Cache.count) and
 * checkpoints that count, so checkpoint/restore can be observed.
 */
export const testRuntime: RuntimeFactory = async ({ state }) => {
  let count = state ? Number((JSON.parse(state) as { count?: number }).count ?? 0) : 0;
  const runtime: Runtime = {
    async apply(from, meta, params) {
      count++;
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
    },
    async checkpoint() {
      return JSON.stringify({ count });
    },
  };
  return runtime;
};
