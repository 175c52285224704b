import type { Redis } from "ioredis";
import { VmdError } from "../errors.js";

/** Connects a lazy client once; a one-line error with `fix` when nothing answers at `url` in time. */
export async function connectRedis(
  redis: Redis,
  url: string,
  fix: string,
  timeoutMs = 5000,
): Promise<void> {
  const timer = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error("no answer")), timeoutMs).unref(),
  );
  try {
    await Promise.race([redis.connect().then(() => redis.ping()), timer]);
  } catch (err) {
    redis.disconnect();
    throw new VmdError(
      "err_redis_down",
      `Redis at ${url.replace(/\/\/[^@/]*@/, "//")} does not answer (${(err as Error).message})`,
      fix,
    );
  }
}
