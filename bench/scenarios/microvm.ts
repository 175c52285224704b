import { type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { microvmEnv, type MicrovmEnv } from "../../src/microvm/env.js";
import { startInstance, stopInstance } from "../../src/microvm/lifecycle.js";
import { healthOk } from "../../src/microvm/net/health.js";
import { instancePaths } from "../../src/microvm/paths.js";
import { vmmPid, supervisorPid } from "../../src/microvm/run-state.js";
import { allocateInstance, setupInstance } from "../../src/microvm/setup.js";
import { restoreSnapshot, takeSnapshot } from "../../src/microvm/snapshots.js";
import { destroyInstance } from "../../src/microvm/instance.js";
import { readSpec } from "../../src/microvm/vmspec.js";
import { spawnVmm } from "../../src/microvm/vmm/launch.js";
import { hostTscKhz, qemuArgs } from "../../src/microvm/vmm/qemu.js";
import { withQmp } from "../../src/microvm/vmm/qmp.js";
import type { VmSpec } from "../../src/microvm/vmm/types.js";
import { silentProgress } from "../../src/progress.js";
import { run } from "../../src/sys/exec.js";
import { FakeLlm } from "../../test/helpers/fake-llm.js";
import { FakeTelegram } from "../../test/helpers/fake-telegram.js";
import { testGuestImages } from "../../test/helpers/microvm-guest.js";
import { freePort } from "../../test/helpers/ports.js";
import type { BenchContext } from "../lib/context.js";
import type { Scenario } from "../lib/scenario.js";
import { interleaved, now, summarize, timedRow, type Row } from "../lib/stats.js";

const MB = 2 ** 20;

/** VmRSS of a process in bytes (0 when it is gone). */
function rss(pid: number | null): number {
  if (!pid) return 0;
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return Number(kb ?? 0) * 1024;
  } catch {
    return 0;
  }
}

async function waitHealth(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await healthOk(port, 2000))) {
    if (Date.now() > deadline) throw new Error(`no /health on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The bare VMM doing the same: QEMU started by hand on copies of the instance's disk and seed,
 * with the same kernel, initramfs and command line vm-ctl would use, its own loopback forward,
 * no supervisor and no proxy.
 */
class BareQemu {
  child: ChildProcess | undefined;
  readonly spec: VmSpec;
  constructor(
    ours: VmSpec,
    private readonly dir: string,
    readonly port: number,
    sshPort: number,
  ) {
    mkdirSync(dir, { recursive: true });
    const disk = join(dir, "rootfs.qcow2");
    const seed = join(dir, "seed.img");
    copyFileSync(ours.disks[0]!.path, disk);
    copyFileSync(ours.disks[1]!.path, seed);
    this.spec = {
      ...ours,
      id: `${ours.id}-bare`,
      disks: [
        { ...ours.disks[0]!, path: disk },
        { ...ours.disks[1]!, path: seed },
      ],
      net: {
        mode: "user",
        mac: ours.net.mode === "none" ? "06:fc:00:00:00:01" : ours.net.mac,
        forwards: [
          { hostPort: port, guestPort: 18789 },
          { hostPort: sshPort, guestPort: 22 },
        ],
      },
      controlSocket: join(dir, "qmp.sock"),
      serialLog: join(dir, "serial.log"),
    };
  }

  /** Starts QEMU (resuming `restore` when given) and waits for /health; returns ms. */
  async start(timeoutMs: number, restore?: string): Promise<number> {
    const t = now();
    const args = qemuArgs(this.spec, restore, this.spec.accel === "tcg" ? hostTscKhz() : null);
    this.child = spawnVmm(
      "qemu-system-x86_64",
      args,
      join(this.dir, "vmm.log"),
      join(this.dir, "vmm.log"),
    );
    await waitHealth(this.port, timeoutMs);
    return now() - t;
  }

  async savevm(name: string): Promise<number> {
    const t = now();
    await withQmp(this.spec.controlSocket, (q) => q.hmp(`savevm ${name}`), 600_000);
    return now() - t;
  }

  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once("exit", () => resolve());
      c.kill("SIGKILL");
    });
  }
}

interface Guest {
  label: string;
  id: string;
  bootTimeoutMs: number;
  cleanup: () => Promise<void>;
}

/** The small test guest (busybox instead of OpenClaw): the same kernel, seed, VMM and network. */
async function smallGuest(env: MicrovmEnv): Promise<Guest> {
  const images = await testGuestImages(env);
  await allocateInstance(
    env,
    {
      id: "bench-small",
      network: "user",
      hostPort: null,
      vcpu: 1,
      memMib: 192,
      model: "none",
      ...images,
      vmm: "qemu",
      accel: "tcg",
    },
    [],
  );
  return {
    label: "busybox guest",
    id: "bench-small",
    bootTimeoutMs: 300_000,
    cleanup: async () => {},
  };
}

/** An OpenClaw bot made by vm-setup (user network; provider and Telegram are local servers). */
async function openclawGuest(env: MicrovmEnv): Promise<Guest> {
  const llm = new FakeLlm("openai-chat");
  await llm.start("127.0.0.1");
  const telegram = new FakeTelegram("1:bench");
  await telegram.start("127.0.0.1");
  // QEMU's user network shows the host's loopback to the guest as 10.0.2.2.
  const guestUrl = (u: string) => u.replace("127.0.0.1", "10.0.2.2");
  await setupInstance(
    env,
    {
      instance: "bench-bot",
      telegramToken: "1:bench",
      telegramApiRoot: guestUrl(telegram.url),
      model: "openai/fake-model",
      openaiApiKey: "sk-bench",
      providerBaseUrl: guestUrl(llm.url),
      vmVcpu: "2",
      vmMemMib: "2048",
      network: "user",
    },
    silentProgress,
    3000,
  );
  return {
    label: "OpenClaw bot",
    id: "bench-bot",
    bootTimeoutMs: 3_000_000,
    cleanup: async () => {
      llm.close();
      telegram.close();
    },
  };
}

async function measure(
  ctx: BenchContext,
  env: MicrovmEnv,
  guest: Guest,
  rounds: number,
  emit: (r: Row) => void,
) {
  const p = instancePaths(env, guest.id);
  await stopInstance(env, guest.id, { now: true });
  const spec = readSpec(p);
  const bare = new BareQemu(
    spec,
    join(ctx.base, `${guest.id}-bare`),
    await freePort(),
    await freePort(),
  );
  const scenario = "microvm";
  const label = (what: string) => `${what} (${guest.label}, ${spec.accel})`;
  const stopOurs = () => stopInstance(env, guest.id, { now: true });
  try {
    emit(
      timedRow(
        scenario,
        label("boot until /health through the proxy"),
        await interleaved(
          rounds,
          async () => {
            const t = now();
            await startInstance(env, guest.id, { waitMs: guest.bootTimeoutMs });
            const ms = now() - t;
            await stopOurs();
            return ms;
          },
          async () => {
            const ms = await bare.start(guest.bootTimeoutMs);
            await bare.kill();
            return ms;
          },
        ),
        "qemu-system-x86_64 started by hand (same kernel, disk, command line), /health on its forward",
      ),
    );
    // Both running and idle: memory, then snapshots.
    await startInstance(env, guest.id, { waitMs: guest.bootTimeoutMs });
    await bare.start(guest.bootTimeoutMs);
    await new Promise((r) => setTimeout(r, 10_000));
    const vmm = rss(vmmPid(p, spec.controlSocket));
    const sup = rss(supervisorPid(p));
    emit({
      scenario,
      metric: label("memory per idle VM"),
      unit: "MB",
      better: "lower",
      ours: summarize([(vmm + sup) / MB]),
      baseline: summarize([rss(bare.child!.pid ?? null) / MB]),
      baselineLabel: "the bare QEMU's RSS",
      note: `ours = VMM ${(vmm / MB).toFixed(0)} MB + supervisor ${(sup / MB).toFixed(0)} MB (RSS)`,
    });
    const snap = await interleaved(
      rounds,
      async (r) => (await takeSnapshot(env, guest.id, `bench-${r}`)).ms,
      async (r) => bare.savevm(`bench-${r}`),
    );
    emit(
      timedRow(
        scenario,
        label("snapshot (memory + devices + disk)"),
        snap,
        "QMP savevm on the bare QEMU",
      ),
    );
    await bare.kill();
    const restore = await interleaved(
      rounds,
      async (r) => (await restoreSnapshot(env, guest.id, `bench-${r}`, guest.bootTimeoutMs)).ms,
      async (r) => {
        await bare.kill();
        return bare.start(guest.bootTimeoutMs, `bench-${r}`);
      },
    );
    emit(
      timedRow(
        scenario,
        label("restore until /health"),
        restore,
        "bare QEMU started with -loadvm, /health on its forward",
      ),
    );
  } finally {
    await bare.kill();
    await stopOurs().catch(() => {});
  }
}

export const microvmScenario: Scenario = {
  name: "microvm",
  describe:
    "microVM bots: boot until /health through the proxy, snapshot, restore until healthy, memory per idle VM, vs QEMU started by hand on the same images",
  async unavailable() {
    if ((await run("qemu-system-x86_64", ["--version"])).code !== 0)
      return "no qemu-system-x86_64 (sudo vm-ctl prepare)";
    if (process.getuid?.() !== 0) return "building the guest images needs root";
    return undefined;
  },
  async run(ctx, emit) {
    const env = microvmEnv({
      ...process.env,
      STATE_ROOT: join(ctx.base, "vm-state"),
      FC_ROOT: join(ctx.base, "vm-fc"),
      SSH_KEY_PATH: join(ctx.base, "vm-ssh", "key"),
      BASE_PORT: String(await freePort()),
    });
    // Under emulation an OpenClaw gateway takes minutes to start: the smoke run uses the small guest.
    const guests = [() => smallGuest(env), ...(ctx.quick ? [] : [() => openclawGuest(env)])];
    for (const make of guests) {
      let guest: Guest | undefined;
      try {
        guest = await make();
        ctx.log(`microvm: ${guest.label}`);
        await measure(ctx, env, guest, ctx.quick ? 2 : guest.id === "bench-bot" ? 1 : 5, emit);
      } finally {
        if (guest) {
          await destroyInstance(env, guest.id);
          await guest.cleanup();
        }
      }
    }
  },
};
