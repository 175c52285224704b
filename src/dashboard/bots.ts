import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { z } from "zod";

/**
 * One microVM bot as `vm-ctl list --json` prints it (the contract with the microVM issue); fields
 * beyond these are kept out.
 */
export const BotSchema = z.object({
  id: z.string(),
  state: z.enum(["running", "stopped", "paused", "starting", "error"]),
  vmm: z.enum(["firecracker", "qemu"]),
  accel: z.enum(["kvm", "tcg"]).nullable(),
  network: z.enum(["bridge", "user"]),
  ip: z.string().nullable(),
  hostPort: z.number().int(),
  health: z.enum(["ok", "down", "unknown"]),
  pid: z.number().int().nullable(),
  vcpu: z.number(),
  memMib: z.number(),
  model: z.string().nullable(),
  createdAt: z.string(),
});
export type Bot = z.infer<typeof BotSchema>;

/** What the Bots view shows: the bots, or why there are none to show. */
export interface BotsView {
  /** false while vm-ctl is not part of this build. */
  available: boolean;
  bots: Bot[];
  /** Why the last listing failed (vm-ctl's own message), empty when it worked. */
  error: string;
  at: number;
}

/**
 * Parses `vm-ctl list --json` output: a JSON array of bots, sorted by id. Throws an Error naming
 * the first bad field when the output does not follow the contract.
 */
export function parseBots(stdout: string): Bot[] {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new Error(
      `vm-ctl list --json printed something that is not JSON: ${stdout.slice(0, 80)}`,
    );
  }
  const parsed = z.array(BotSchema).safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw new Error(`vm-ctl list --json: ${i.path.join(".")}: ${i.message}`);
  }
  return parsed.data.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Counts of bots per state and per health, for the overview. */
export function botCounts(bots: Bot[]): { total: number; running: number; healthy: number } {
  return {
    total: bots.length,
    running: bots.filter((b) => b.state === "running").length,
    healthy: bots.filter((b) => b.health === "ok").length,
  };
}

/**
 * Lists bots by running `argv` (by default `node dist/src/cli/vm-ctl.js list --json`), at most
 * once per call and within 30 s (vm-ctl waits up to 20 s for an emulated guest's busy gateway).
 * `available` is false when the vm-ctl script does not exist.
 */
export function listBots(argv: string[]): Promise<BotsView> {
  const at = Date.now();
  const script = argv[1];
  if (!argv[0] || (script && script.endsWith(".js") && !existsSync(script)))
    return Promise.resolve({ available: false, bots: [], error: "", at });
  return new Promise((resolve) => {
    execFile(
      argv[0]!,
      [...argv.slice(1), "list", "--json"],
      { timeout: 30_000, maxBuffer: 8 * 2 ** 20 },
      (err, stdout, stderr) => {
        if (err && !stdout)
          return resolve({
            available: true,
            bots: [],
            error: (stderr || err.message).trim().split("\n")[0] ?? "",
            at,
          });
        try {
          resolve({ available: true, bots: parseBots(stdout), error: "", at });
        } catch (e) {
          resolve({ available: true, bots: [], error: (e as Error).message, at });
        }
      },
    );
  });
}
