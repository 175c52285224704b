import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { HymxClient } from "../../src/client/client.js";
import { DataItem } from "../../src/protocol/data-item.js";
import type { Signer } from "../../src/protocol/signers.js";
import { aoSpawnTags } from "./ao.js";

const script = fileURLToPath(new URL("./ao-node.js", import.meta.url));

/** A node with the AO module, run in its own process (ao-node.ts) so a test can kill -9 it. */
export interface AoChild {
  child: ChildProcess;
  url: string;
}

/**
 * A fresh base folder with the module in `mod/`, and the store's URL: "" for SQLite, else Redis
 * database `redisDb`, emptied first (each test file takes its own database).
 */
export async function aoChildBase(
  moduleFile: string,
  storeKind: "sqlite" | "redis",
  redisDb: number,
): Promise<{ base: string; redisUrl: string }> {
  const base = mkdtempSync(join(tmpdir(), "vmd-ao-child-"));
  mkdirSync(join(base, "mod"));
  copyFileSync(moduleFile, join(base, "mod", basename(moduleFile)));
  if (storeKind === "sqlite") return { base, redisUrl: "" };
  const redisUrl = `redis://127.0.0.1:${process.env.VMDOCKER_REDIS_PORT ?? 6379}/${redisDb}`;
  const r = new Redis(redisUrl);
  await r.flushdb();
  r.disconnect();
  return { base, redisUrl };
}

/**
 * Starts the node on `port` (":0" picks one) with checkpoints every 2 s; resolves once it
 * listens. Its stdout lines (the node's log) are added to `log` when given.
 */
export function startAoChild(
  base: string,
  port: string,
  redisUrl: string,
  log?: string[],
): Promise<AoChild> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      env: {
        ...process.env,
        BASE_DIR: base,
        PORT: port,
        REDIS_URL: redisUrl,
        CHECKPOINT_INTERVAL: "2",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      log?.push(...d.toString().split("\n"));
      const url = /URL (\S+)/.exec(out)?.[1];
      if (url) resolve({ child, url });
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code, signal) => reject(new Error(`node exited ${code ?? signal}: ${out}`)));
  });
}

/** kill -9, resolved once the process is gone. */
export async function killAoChild(node: AoChild): Promise<void> {
  node.child.kill("SIGKILL");
  await new Promise((r) => node.child.once("exit", r));
}

/** Spawns an AO process named `name` on the client's node and waits for its spawn result. */
export async function spawnAoProcess(
  client: HymxClient,
  signer: Signer,
  moduleId: string,
  name: string,
): Promise<string> {
  const scheduler = (await client.info()).Node["Acc-Id"];
  const pid = await client.submit(
    DataItem.sign(
      { tags: aoSpawnTags(moduleId, scheduler, [{ name: "Name", value: name }]) },
      signer,
    ),
  );
  assert.equal((await client.waitResult(pid, pid, 120_000)).Error, "");
  return pid;
}
