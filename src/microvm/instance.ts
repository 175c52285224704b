// An instance's files on the host: its disk (a copy-on-write qcow2 over the base root filesystem
// for QEMU, a sparse copy for Firecracker, which reads raw images only), its first-boot seed with
// a fresh SSH host key, its VMM configuration; and taking all of it away again.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { errorMessage } from "../errors.js";
import { runOrThrow } from "../sys/exec.js";
import type { MicrovmEnv } from "./env.js";
import { readEnvFile, writeEnvFile } from "./envfile.js";
import type { RawSetupOptions } from "./flags.js";
import { readHostNameservers, writeSeedImage } from "./guest/seed.js";
import { ensureKeyPair, writeKnownHosts } from "./guest/ssh.js";
import { stopInstance } from "./lifecycle.js";
import { withLock } from "./lock.js";
import { removeBridge, removeTap } from "./net/host-net.js";
import { allocationLock, instancePaths, type InstancePaths } from "./paths.js";
import { listInstanceIds, readInstance, type InstanceRecord } from "./state.js";
import { removeUnits } from "./units.js";
import { specFor, writeSpec } from "./vmspec.js";

/** QEMU's user-mode network: the guest's fixed address and gateway (slirp defaults). */
export const USER_NET = {
  guestIp: "10.0.2.15",
  gatewayIp: "10.0.2.2",
  dns: "10.0.2.3",
  prefix: 24,
};

/** Makes the instance's disk, seed, SSH trust and VMM configuration under FC_ROOT/<id>/. */
export async function writeInstanceFiles(
  env: MicrovmEnv,
  r: InstanceRecord,
  baseRootfs: string,
): Promise<void> {
  const p = instancePaths(env, r.id);
  for (const d of [p.vmDir, p.logs.dir, p.run.dir, p.snapshots])
    mkdirSync(d, { recursive: true, mode: 0o700 });
  const disk = p.disk(r.diskFormat);
  if (r.diskFormat === "qcow2")
    await runOrThrow(
      "qemu-img",
      ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", baseRootfs, disk],
      "making the instance's disk",
      "install qemu-utils (vm-ctl prepare)",
    );
  else
    await runOrThrow(
      "cp",
      ["--sparse=always", "--reflink=auto", baseRootfs, disk],
      "copying the root filesystem",
      "check free space under FC_ROOT",
    );
  const authorized = await ensureKeyPair(env.sshKeyPath, "vmdemo");
  rmSync(p.hostKey, { force: true });
  rmSync(`${p.hostKey}.pub`, { force: true });
  const hostPublic = await ensureKeyPair(p.hostKey, `vmdemo-${r.id}`);
  writeKnownHosts(p, hostPublic);
  const user = r.network === "user";
  await writeSeedImage(
    {
      id: r.id,
      mac: r.guestMac,
      address: `${r.guestIp}/${r.prefix}`,
      gateway: r.gatewayIp,
      dns: user ? [USER_NET.dns] : readHostNameservers(),
      authorizedKey: authorized,
      hostKeyPrivate: readFileSync(p.hostKey, "utf8"),
      hostKeyPublic: hostPublic,
    },
    p.seedImage,
  );
  writeSpec(p, specFor(r, p));
}

/** The options an instance was provisioned with (secrets included; the file is 0600). */
export function readProvisionOptions(p: InstancePaths): RawSetupOptions {
  if (!existsSync(p.provisionFile)) return {};
  const v = readEnvFile(p.provisionFile);
  const pick = (k: string) => (v[k] ? v[k] : undefined);
  return {
    instance: p.id,
    telegramToken: pick("TELEGRAM_TOKEN"),
    telegramUsers: pick("TELEGRAM_USERS"),
    telegramApiRoot: pick("TELEGRAM_API_ROOT"),
    model: pick("MODEL"),
    skills: pick("SKILLS"),
    openclawImage: pick("OPENCLAW_IMAGE"),
    anthropicApiKey: pick("ANTHROPIC_API_KEY"),
    openaiApiKey: pick("OPENAI_API_KEY"),
    minimaxApiKey: pick("MINIMAX_API_KEY"),
    providerBaseUrl: pick("PROVIDER_BASE_URL"),
    skipBrowserInstall: v.SKIP_BROWSER_INSTALL === "true",
  };
}

export function writeProvisionOptions(p: InstancePaths, o: RawSetupOptions): void {
  writeEnvFile(p.provisionFile, {
    TELEGRAM_TOKEN: o.telegramToken ?? "",
    TELEGRAM_USERS: o.telegramUsers ?? "",
    TELEGRAM_API_ROOT: o.telegramApiRoot ?? "",
    MODEL: o.model ?? "",
    SKILLS: o.skills ?? "",
    OPENCLAW_IMAGE: o.openclawImage ?? "",
    ANTHROPIC_API_KEY: o.anthropicApiKey ?? "",
    OPENAI_API_KEY: o.openaiApiKey ?? "",
    MINIMAX_API_KEY: o.minimaxApiKey ?? "",
    PROVIDER_BASE_URL: o.providerBaseUrl ?? "",
    SKIP_BROWSER_INSTALL: o.skipBrowserInstall ? "true" : "false",
  });
}

/**
 * Takes an instance away completely: its VMM and supervisor (or units), its TAP, FC_ROOT/<id>/
 * and STATE_ROOT/.vm-<id>/; with the last bridge-mode instance also the bridge and NAT rules
 * vmdemo created. Returns problems met on the way (each already worked around).
 */
export async function destroyInstance(env: MicrovmEnv, id: string): Promise<string[]> {
  const p = instancePaths(env, id);
  const problems: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      problems.push(`${what}: ${errorMessage(err)}`);
    }
  };
  let r: InstanceRecord | null = null;
  try {
    r = readInstance(env, id);
  } catch (err) {
    problems.push(errorMessage(err));
  }
  if (r) {
    const rec = r;
    await step("stopping", () => stopInstance(env, id, { now: true }));
    if (rec.supervisor === "systemd") await step("removing the units", () => removeUnits(rec));
    if (rec.network === "bridge")
      await step(`removing TAP ${rec.tapName}`, () => removeTap(rec.tapName));
  }
  rmSync(p.vmDir, { recursive: true, force: true });
  rmSync(p.stateDir, { recursive: true, force: true });
  await step("removing the bridge", () =>
    withLock(allocationLock(env), async () => {
      const bridged = listInstanceIds(env).some((other) => {
        try {
          return readInstance(env, other).network === "bridge";
        } catch {
          return true;
        }
      });
      if (!bridged) problems.push(...(await removeBridge(env)));
    }),
  );
  return problems;
}
