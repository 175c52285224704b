import { Redis } from "ioredis";
import { connectRedis } from "../../store/redis-connect.js";
import type { HealthReport, TaskSpec } from "../../runtimes/agent/wire.js";
import { randomBytes } from "node:crypto";
import { TASK_STATES } from "./states.js";
import {
  summarize,
  type AgentRecord,
  type FinishedTask,
  type FinishFields,
  type HubStore,
  type TaskQuery,
  type TaskRecord,
  type TaskState,
  type TaskSummary,
} from "./store.js";

const PENDING = ["queued", "dispatched", "running"];

// Status changes are conditional (a finished task stays finished), so they run as scripts. Each
// also moves the task between the per-state sorted sets (`hub:state:<status>`, scored by its
// sequence) that paging by state reads; a finish adds `id|status|durationMs` to `hub:finished`
// (scored by its finish time) for task metrics, keeping a week of them.
const MOVE = `
local function move(key, from, to)
  local seq = redis.call('HGET', key, 'seq')
  if not seq then return end
  local id = string.sub(key, 10)
  redis.call('ZREM', 'hub:state:' .. from, id)
  redis.call('ZADD', 'hub:state:' .. to, seq, id)
end
`;
const DISPATCHED = `${MOVE}
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 0 end
if s == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'dispatched')
  move(KEYS[1], 'queued', 'dispatched')
end
redis.call('HSET', KEYS[1], 'dispatchedAt', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'deliveries', 1)
return 1`;
const STARTED = `${MOVE}
local s = redis.call('HGET', KEYS[1], 'status')
if s == 'queued' or s == 'dispatched' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'startedAt', ARGV[1])
  move(KEYS[1], s, 'running')
  return 1
end
return 0`;
const FINISH = `${MOVE}
local s = redis.call('HGET', KEYS[1], 'status')
if s ~= 'queued' and s ~= 'dispatched' and s ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'exitCode', ARGV[2], 'output', ARGV[3], 'error', ARGV[4], 'finishedAt', ARGV[6])
if not redis.call('HGET', KEYS[1], 'startedAt') and ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'startedAt', ARGV[5])
end
redis.call('ZREM', KEYS[2], ARGV[7])
move(KEYS[1], s, ARGV[1])
local began = tonumber(redis.call('HGET', KEYS[1], 'startedAt') or redis.call('HGET', KEYS[1], 'createdAt'))
local finished = tonumber(ARGV[6])
redis.call('ZADD', 'hub:finished', finished, ARGV[7] .. '|' .. ARGV[1] .. '|' .. (finished - began))
redis.call('ZREMRANGEBYSCORE', 'hub:finished', '-inf', finished - 7 * 86400000)
return 1`;
// A page of one sorted set, or of the union of the state sets intersected with an agent's set.
const PAGE = `
local src = KEYS[1]
local tmp = KEYS[2]
if #ARGV > 2 then
  local keys = {}
  for i = 3, #ARGV do keys[#keys + 1] = ARGV[i] end
  redis.call('ZUNIONSTORE', tmp, #keys, unpack(keys))
  if src ~= '' then redis.call('ZINTERSTORE', tmp, 2, tmp, src, 'WEIGHTS', 0, 1) end
  src = tmp
end
local total = redis.call('ZCARD', src)
local ids = redis.call('ZREVRANGE', src, tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1)
redis.call('DEL', tmp)
table.insert(ids, 1, total)
return ids`;
const num = (v: string | undefined) => (v === undefined || v === "" ? null : Number(v));

/**
 * The hub's store in Redis, so the queue lives outside the hub's machine: `hub:agent:<name>`
 * hashes, `hub:task:<id>` hashes, per agent a sorted set of all its tasks and one of its pending
 * ones (scored by a global sequence), `hub:all` and one set per state for paging, `hub:finished`
 * for metrics.
 */
export class RedisHubStore implements HubStore {
  readonly kind = "redis" as const;
  private readonly redis: Redis;

  constructor(private readonly url: string) {
    this.redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 3 });
  }

  async connect(timeoutMs = 5000): Promise<void> {
    await connectRedis(
      this.redis,
      this.url,
      "start it (vmdocker host setup starts one on 127.0.0.1:6379), or fix --redis-url",
      timeoutMs,
    );
  }

  async addAgent(a: Pick<AgentRecord, "name" | "profile" | "tokenHash">): Promise<boolean> {
    const added = await this.redis.sadd("hub:agents", a.name);
    if (added === 0) return false;
    await this.redis.hset(`hub:agent:${a.name}`, {
      profile: a.profile,
      tokenHash: a.tokenHash,
      createdAt: String(Date.now()),
    });
    return true;
  }

  async setToken(name: string, tokenHash: string): Promise<void> {
    await this.redis.hset(`hub:agent:${name}`, "tokenHash", tokenHash);
  }

  async agent(name: string): Promise<AgentRecord | undefined> {
    const h = await this.redis.hgetall(`hub:agent:${name}`);
    if (!h.tokenHash) return undefined;
    return {
      name,
      profile: h.profile ?? "",
      tokenHash: h.tokenHash,
      createdAt: Number(h.createdAt),
      lastSeen: num(h.lastSeen),
      health: h.health ? (JSON.parse(h.health) as HealthReport) : null,
    };
  }

  async agents(): Promise<AgentRecord[]> {
    const names = (await this.redis.smembers("hub:agents")).sort();
    const all = await Promise.all(names.map((n) => this.agent(n)));
    return all.filter((a): a is AgentRecord => !!a);
  }

  async removeAgent(name: string): Promise<void> {
    await this.redis.multi().srem("hub:agents", name).del(`hub:agent:${name}`).exec();
  }

  async seen(name: string, health?: HealthReport): Promise<void> {
    if (!(await this.redis.sismember("hub:agents", name))) return;
    await this.redis.hset(`hub:agent:${name}`, {
      lastSeen: String(Date.now()),
      ...(health ? { health: JSON.stringify(health) } : {}),
    });
  }

  async addTask(id: string, agent: string, spec: TaskSpec): Promise<TaskRecord> {
    const seq = await this.redis.incr("hub:seq");
    await this.redis
      .multi()
      .hset(`hub:task:${id}`, {
        agent,
        spec: JSON.stringify(spec),
        status: "queued",
        createdAt: String(Date.now()),
        output: "",
        deliveries: "0",
        seq: String(seq),
      })
      .zadd("hub:all", seq, id)
      .zadd("hub:state:queued", seq, id)
      .zadd(`hub:tasks:${agent}`, seq, id)
      .zadd(`hub:pending:${agent}`, seq, id)
      .exec();
    return (await this.task(id))!;
  }

  async task(id: string): Promise<TaskRecord | undefined> {
    const h = await this.redis.hgetall(`hub:task:${id}`);
    if (!h.status) return undefined;
    return {
      id,
      agent: h.agent ?? "",
      spec: JSON.parse(h.spec ?? "{}") as TaskSpec,
      status: h.status as TaskState,
      createdAt: Number(h.createdAt),
      dispatchedAt: num(h.dispatchedAt),
      startedAt: num(h.startedAt),
      finishedAt: num(h.finishedAt),
      exitCode: num(h.exitCode),
      output: h.output ?? "",
      error: h.error || null,
      deliveries: Number(h.deliveries ?? 0),
    };
  }

  private async many(ids: string[]): Promise<TaskRecord[]> {
    const all = await Promise.all(ids.map((id) => this.task(id)));
    return all.filter((t): t is TaskRecord => !!t);
  }

  async tasks(agent: string, limit: number): Promise<TaskRecord[]> {
    return this.many(await this.redis.zrevrange(`hub:tasks:${agent}`, 0, limit - 1));
  }

  async pending(agent: string): Promise<TaskRecord[]> {
    const tasks = await this.many(await this.redis.zrange(`hub:pending:${agent}`, 0, -1));
    return tasks.filter((t) => PENDING.includes(t.status));
  }

  async dispatched(id: string): Promise<void> {
    await this.redis.eval(DISPATCHED, 1, `hub:task:${id}`, String(Date.now()));
  }

  async started(id: string, at: number): Promise<void> {
    await this.redis.eval(STARTED, 1, `hub:task:${id}`, String(at));
  }

  async finish(id: string, o: FinishFields): Promise<boolean> {
    const agent = await this.redis.hget(`hub:task:${id}`, "agent");
    if (!agent) return false;
    const changed = await this.redis.eval(
      FINISH,
      2,
      `hub:task:${id}`,
      `hub:pending:${agent}`,
      o.status,
      o.exitCode === null ? "" : String(o.exitCode),
      o.output,
      o.error ?? "",
      o.startedAt === undefined ? "" : String(o.startedAt),
      String(o.finishedAt),
      id,
    );
    return changed === 1;
  }

  async listTasks(q: TaskQuery): Promise<{ total: number; tasks: TaskSummary[] }> {
    const agentKey = q.agent === undefined ? "" : `hub:tasks:${q.agent}`;
    const states = q.statuses?.length ? q.statuses.map((s) => `hub:state:${s}`) : [];
    const src = states.length ? agentKey : agentKey || "hub:all";
    const tmp = `hub:tmp:${randomBytes(8).toString("hex")}`;
    const [total, ...ids] = (await this.redis.eval(
      PAGE,
      2,
      src,
      tmp,
      String(q.offset),
      String(q.limit),
      ...states,
    )) as [number, ...string[]];
    return { total, tasks: (await this.many(ids)).map(summarize) };
  }

  async finishedSince(since: number): Promise<FinishedTask[]> {
    const flat = await this.redis.zrangebyscore("hub:finished", since, "+inf", "WITHSCORES");
    const out: FinishedTask[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const [, status, d] = flat[i]!.split("|");
      out.push({
        status: status as TaskState,
        finishedAt: Number(flat[i + 1]),
        durationMs: Number(d),
      });
    }
    return out;
  }

  async countByStatus(): Promise<Partial<Record<TaskState, number>>> {
    const pipe = this.redis.pipeline();
    for (const s of TASK_STATES) pipe.zcard(`hub:state:${s}`);
    const res = (await pipe.exec()) ?? [];
    return Object.fromEntries(
      TASK_STATES.map((s, i) => [s, Number(res[i]?.[1] ?? 0)]).filter(([, n]) => n),
    );
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
