import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { errorBody } from "../errors.js";
import { DataItem } from "../protocol/data-item.js";
import type { Tag } from "../protocol/tags.js";
import { streamLog } from "../sys/sse.js";
import type { NodeActivity } from "./activity.js";
import type { ProcessRow } from "./process-row.js";
import type { ModuleCatalog } from "./modules.js";
import type { HymxNode } from "./node.js";

const VMDOCKER_FORMAT = "hymx.vmdocker.v0.0.1";
const MAX_STREAMS = 64;

const Page = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});

const last = (tags: Tag[], name: string) => [...tags].reverse().find((t) => t.name === name)?.value;

/**
 * vmdocker's read routes for consoles (beside hymx's own): `GET /vmd/processes` (a page of the
 * node's processes, the most recently active first, `{total, processes}`) and `GET /vmd/events`
 * (the node's activity as server-sent events, `Last-Event-ID` replays what a client missed).
 * Public like every read route of the node: they show only what the message log holds anyway.
 */
export type { ProcessRow };

export function registerProcessRoutes(
  app: FastifyInstance,
  deps: {
    node: HymxNode;
    modules: ModuleCatalog;
    activity: NodeActivity;
    /** The node's default for container processes (config `checkpointKind`). */
    checkpointKind: string;
  },
): void {
  const { node, modules, activity } = deps;
  const fixed = new Map<
    string,
    Omit<
      ProcessRow,
      "nonce" | "running" | "failed" | "checkpoint" | "messagesPerMinute" | "lastMessageAt" | "core"
    >
  >();

  async function describe(pid: string) {
    const hit = fixed.get(pid);
    if (hit) return hit;
    const spawn = await node.store.messageByNonce(pid, 0);
    const tags = spawn?.tags ?? [];
    const module = last(tags, "Module") ?? "";
    const m = await modules.get(module).catch(() => undefined);
    const format = m?.["Module-Format"] ?? "";
    const container = format === VMDOCKER_FORMAT;
    const row = {
      pid,
      owner: spawn ? safeOwner(spawn) : "",
      module,
      moduleFormat: format,
      runtime: (container ? last(m?.Tags ?? [], "Image-Name") : undefined) ?? format,
      backend: container ? (last(tags, "Runtime-Backend") ?? "docker") : "in-process",
      checkpointKind: container ? (last(tags, "Checkpoint-Kind") ?? deps.checkpointKind) : "state",
    };
    if (m) fixed.set(pid, row);
    return row;
  }

  app.get("/vmd/processes", async (req, reply) => {
    const parsed = Page.safeParse(req.query);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      return reply
        .code(400)
        .send(errorBody("err_invalid_params", `${i.path.join(".")}: ${i.message}`));
    }
    const q = parsed.data;
    const running = new Set(node.runningProcesses());
    const all = await node.store.processes();
    const order = all
      .map((pid, i) => ({ pid, i, at: activity.rate(pid).lastAt }))
      .sort((a, b) => b.at - a.at || a.i - b.i);
    const page = order.slice(q.offset, q.offset + q.limit);
    const processes: ProcessRow[] = await Promise.all(
      page.map(async ({ pid }) => {
        const [d, nonce, checkpoint] = await Promise.all([
          describe(pid),
          node.store.nonce(pid),
          node.store.checkpoint(pid),
        ]);
        const rate = activity.rate(pid);
        return {
          ...d,
          core: pid === node.core.token ? "token" : pid === node.core.registry ? "registry" : null,
          nonce,
          running: running.has(pid),
          failed: node.spawnError(pid) ?? null,
          checkpoint,
          messagesPerMinute: rate.perMinute,
          lastMessageAt: rate.lastAt,
        };
      }),
    );
    return {
      total: all.length,
      running: running.size,
      offset: q.offset,
      limit: q.limit,
      processes,
    };
  });

  // Open streams would keep the server from closing.
  app.addHook("preClose", async () => activity.events.end());
  app.get("/vmd/events", (req, reply) => {
    if (activity.events.subscribers >= MAX_STREAMS)
      return reply
        .code(503)
        .send(errorBody("err_too_many_streams", `${MAX_STREAMS} event streams are open already`));
    reply.hijack();
    streamLog(req.raw, reply.raw, activity.events);
  });
}

function safeOwner(item: Parameters<typeof DataItem.fromJSON>[0]): string {
  try {
    return DataItem.fromJSON(item).address;
  } catch {
    return "";
  }
}
