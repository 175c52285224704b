// The supervisor of one instance, for hosts without systemd (and the body of its units where
// systemd runs): it sets up the instance's TAP, runs the localhost proxy, starts the VMM and starts
// it again when it dies (the seed's Restart=), until it is told to stop. Signals: SIGTERM/SIGINT
// stop gracefully (ACPI power button / Ctrl-Alt-Del, then kill), SIGUSR1 stops at once, SIGHUP
// replaces the VMM now (a pending restore marker makes the new one resume a snapshot).
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { VmdError, errorMessage } from "../errors.js";
import { isAlive } from "../host/started.js";
import type { MicrovmEnv } from "./env.js";
import { writePrivate } from "./envfile.js";
import { GATEWAY_PORT } from "./guest/openclaw.js";
import { withLock } from "./lock.js";
import { healthOk } from "./net/health.js";
import { ensureBridge, ensureTap } from "./net/host-net.js";
import { startProxy, type TcpProxy } from "./net/proxy.js";
import { allocationLock, instancePaths, type InstancePaths } from "./paths.js";
import {
  clearRunFiles,
  supervisorPid,
  vmmPid,
  writeRunStatus,
  type RunStatus,
} from "./run-state.js";
import { readInstance, type InstanceRecord } from "./state.js";
import { driverFor, readSpec } from "./vmspec.js";
import type { VmmDriver, VmSpec } from "./vmm/types.js";

export interface SupervisorOptions {
  env: MicrovmEnv;
  id: string;
  log: (line: string) => void;
  /** Start the VMM again after it dies (off under systemd, whose Restart= does it). */
  restart: boolean;
  /** Run the localhost proxy here (off under systemd: the proxy has its own unit). */
  proxy: boolean;
  /** Seconds a guest gets to power off before its VMM is killed. */
  stopGraceS?: number;
}

/** A VMM that ran less than this died young: its restarts back off. */
const FAST_FAILURE_MS = 60_000;
/** After this many young deaths in a row the instance is reported as "error" (it keeps trying). */
const ERROR_AFTER = 5;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for a pid that is not our child to disappear. */
async function pidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
  return true;
}

export class Supervisor {
  private readonly p: InstancePaths;
  private record!: InstanceRecord;
  private spec!: VmSpec;
  private driver!: VmmDriver;
  private proxy: TcpProxy | undefined;
  private vmm: { pid: number; child?: ChildProcess; startedAt: number } | undefined;
  private stopping: "graceful" | "now" | undefined;
  private relaunching = false;
  private wake: (() => void) | undefined;
  private status: RunStatus;

  constructor(private readonly o: SupervisorOptions) {
    this.p = instancePaths(o.env, o.id);
    this.status = {
      state: "starting",
      supervisorPid: process.pid,
      vmmPid: null,
      since: new Date().toISOString(),
      restarts: 0,
      lastExit: null,
      lastError: null,
      healthyAt: null,
    };
  }

  private log(line: string) {
    this.o.log(`${new Date().toISOString()} ${this.o.id}: ${line}`);
  }

  private update(patch: Partial<RunStatus>) {
    this.status = { ...this.status, ...patch };
    writeRunStatus(this.p, this.status);
  }

  /** Stops gracefully (`now`: kills the VMM at once). Safe to call more than once. */
  stop(how: "graceful" | "now"): void {
    if (this.stopping === "now") return;
    this.stopping = how;
    this.wake?.();
    void this.stopVmm(how);
  }

  /** Replaces the running VMM (used by restore): it is killed and started again at once. */
  relaunch(): void {
    if (this.stopping || !this.vmm) return;
    this.relaunching = true;
    this.log("relaunching the VMM");
    this.killVmm("SIGKILL");
  }

  private killVmm(signal: NodeJS.Signals) {
    if (!this.vmm) return;
    try {
      process.kill(this.vmm.pid, signal);
    } catch {
      // gone already
    }
  }

  private async stopVmm(how: "graceful" | "now") {
    const vmm = this.vmm;
    if (!vmm) return;
    this.update({ state: "stopping" });
    const paused = existsSync(this.p.run.paused);
    if (how === "graceful" && !paused) {
      this.log("asking the guest to power off");
      await this.driver.requestShutdown(this.spec).catch((err: unknown) => {
        this.log(`graceful stop not possible: ${errorMessage(err)}`);
      });
      if (await pidGone(vmm.pid, (this.o.stopGraceS ?? 90) * 1000)) return;
      this.log("the guest did not power off in time; stopping its VMM");
    }
    this.killVmm("SIGTERM");
    if (!(await pidGone(vmm.pid, 5000))) this.killVmm("SIGKILL");
  }

  /** Brings up the host side: the TAP on the bridge (bridge mode) and the proxy. */
  private async prepareHost() {
    if (this.record.network === "bridge") {
      await withLock(allocationLock(this.o.env), () => ensureBridge(this.o.env));
      await ensureTap(this.o.env, this.record.tapName);
      if (this.o.proxy)
        this.proxy = await startProxy({
          listenHost: "127.0.0.1",
          listenPort: this.record.hostPort,
          targetHost: this.record.guestIp,
          targetPort: GATEWAY_PORT,
          log: (l) => this.log(l),
        });
    }
  }

  /** Starts (or adopts, after a supervisor crash) the VMM; resolves with how it ended. */
  private async runVmmOnce(): Promise<string> {
    const orphan = vmmPid(this.p, this.spec.controlSocket);
    if (orphan) {
      this.log(`adopting the running VMM (pid ${orphan})`);
      this.vmm = { pid: orphan, startedAt: Date.now() };
      this.update({ state: "starting", vmmPid: orphan, since: new Date().toISOString() });
      void this.watchHealth(orphan);
      while (isAlive(orphan) && !this.relaunching) await sleep(500);
      await pidGone(orphan, 10_000);
      return "the adopted VMM exited";
    }
    const restore = existsSync(this.p.run.restore)
      ? readFileSync(this.p.run.restore, "utf8").trim()
      : undefined;
    const child = await this.driver.launch(this.spec, {
      logFile: this.p.logs.vmm,
      ...(restore ? { restore } : {}),
    });
    if (restore) {
      rmSync(this.p.run.restore, { force: true });
      this.log(`resumed snapshot ${restore}`);
    }
    rmSync(this.p.run.paused, { force: true });
    const pid = child.pid!;
    writePrivate(this.p.run.vmmPid, `${pid}\n`, 0o644);
    this.vmm = { pid, child, startedAt: Date.now() };
    this.update({
      state: "starting",
      vmmPid: pid,
      since: new Date().toISOString(),
      healthyAt: null,
    });
    this.log(`${this.spec.vmm} started (pid ${pid}${restore ? `, snapshot ${restore}` : ""})`);
    // A stop that arrived while the VMM was starting applies to it now.
    if (this.stopping) void this.stopVmm(this.stopping);
    void this.watchHealth(pid);
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null)
        return resolve(child.signalCode ?? `exit ${child.exitCode}`);
      child.once("exit", (code, signal) => resolve(signal ?? `exit ${code}`));
    });
  }

  /** Marks the instance running once the gateway answers through the proxy. */
  private async watchHealth(pid: number) {
    while (this.vmm?.pid === pid && !this.stopping) {
      if (await healthOk(this.record.hostPort)) {
        if (this.vmm?.pid === pid && !this.stopping) {
          this.update({ state: "running", healthyAt: new Date().toISOString(), lastError: null });
          this.log("the gateway answers /health");
        }
        return;
      }
      await sleep(2000);
    }
  }

  /**
   * Runs until stopped. Resolves with the process exit code: 0 after a requested stop, 1 when the
   * VMM died and `restart` is off (systemd then restarts the unit).
   * @throws VmdError err_already_running when another supervisor holds the instance
   */
  async run(): Promise<number> {
    const other = supervisorPid(this.p);
    if (other && other !== process.pid)
      throw new VmdError(
        "err_already_running",
        `instance ${this.o.id} is already supervised by process ${other}`,
        `use vm-ctl stop ${this.o.id} first`,
      );
    writePrivate(this.p.run.supervisorPid, `${process.pid}\n`, 0o644);
    this.record = readInstance(this.o.env, this.o.id);
    this.spec = readSpec(this.p);
    this.driver = driverFor(this.spec.vmm);
    this.update({});
    let young = 0;
    try {
      await this.prepareHost();
      while (!this.stopping) {
        let ended: string;
        try {
          ended = await this.runVmmOnce();
        } catch (err) {
          ended = `failed to start: ${errorMessage(err)}`;
          // A restore that cannot happen is dropped, so the next start boots normally.
          rmSync(this.p.run.restore, { force: true });
          this.update({ lastError: errorMessage(err) });
        }
        const lived = this.vmm ? Date.now() - this.vmm.startedAt : 0;
        this.vmm = undefined;
        rmSync(this.p.run.vmmPid, { force: true });
        if (this.stopping) break;
        if (this.relaunching) {
          this.relaunching = false;
          continue;
        }
        this.log(`the VMM ended (${ended})`);
        if (!this.o.restart) {
          this.update({ state: "error", vmmPid: null, lastExit: ended });
          return 1;
        }
        young = lived < FAST_FAILURE_MS ? young + 1 : 0;
        const delay = Math.min(30_000, 1000 * 2 ** Math.max(0, young - 1));
        this.update({
          state: young >= ERROR_AFTER ? "error" : "starting",
          vmmPid: null,
          lastExit: ended,
          restarts: this.status.restarts + 1,
        });
        this.log(`starting it again in ${delay / 1000} s`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wake = undefined;
      }
      return 0;
    } finally {
      await this.proxy?.close();
      clearRunFiles(this.p);
      this.log("supervisor stopped");
    }
  }
}

/** Entry of `vm-ctl supervise <id>`: runs the supervisor with signal handling until it stops. */
export async function runSupervisor(o: SupervisorOptions): Promise<number> {
  const s = new Supervisor(o);
  process.on("SIGTERM", () => s.stop("graceful"));
  process.on("SIGINT", () => s.stop("graceful"));
  process.on("SIGUSR1", () => s.stop("now"));
  process.on("SIGHUP", () => s.relaunch());
  return s.run();
}

/** Writes the marker that makes the next VMM start resume snapshot `name`. */
export function requestRestore(p: InstancePaths, name: string): void {
  writeFileSync(p.run.restore, `${name}\n`, { mode: 0o600 });
}
