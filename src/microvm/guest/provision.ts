// Provisioning a guest (the seed's "SCP provision-guest.sh into the guest and run it"): the script
// and the files it installs travel as one tar stream on SSH's stdin, so secrets never appear on a
// command line on either side; the script runs as root in the guest and waits for the gateway.
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import type { MicrovmEnv } from "../env.js";
import { guestFilesDir } from "../images/base.js";
import type { InstancePaths } from "../paths.js";
import type { InstanceRecord } from "../state.js";
import { gatewayEnvFile, openclawConfig, openclawUnit, type ProvisionInputs } from "./openclaw.js";
import { sshRun } from "./ssh.js";

/** The files provisioning sends, by name (pure; holds secrets). */
export function provisionBundle(
  id: string,
  token: string,
  inputs: ProvisionInputs,
): Record<string, string> {
  return {
    "gateway.env": gatewayEnvFile(token, inputs),
    "openclaw.json": `${JSON.stringify(openclawConfig(inputs), null, 2)}\n`,
    "openclaw.service": openclawUnit(id),
    browser: inputs.browser ? "install\n" : "skip\n",
  };
}

/**
 * Sends the bundle and runs provision-guest.sh in the guest; returns when the gateway answers
 * /health inside the guest (the first health gate), or with `wait` false once it is restarting.
 * @throws VmdError err_provision with the script's last lines
 */
export async function provisionGuest(
  env: MicrovmEnv,
  r: InstanceRecord,
  p: InstancePaths,
  token: string,
  inputs: ProvisionInputs,
  healthTimeoutS: number,
  onLine: (line: string) => void,
  wait = true,
): Promise<void> {
  const stage = mkdtempSync(join(tmpdir(), "vmdemo-provision-"));
  try {
    for (const [name, text] of Object.entries(provisionBundle(r.id, token, inputs)))
      writeFileSync(join(stage, name), text, { mode: 0o600 });
    copyFileSync(join(guestFilesDir(), "provision-guest.sh"), join(stage, "provision-guest.sh"));
    const tar = spawn("tar", ["-c", "-C", stage, "."], { stdio: ["ignore", "pipe", "ignore"] });
    const dir = "/root/vmdemo-provision";
    const res = await sshRun(
      env,
      r,
      p,
      `rm -rf ${dir} && mkdir -m 0700 ${dir} && tar -x -C ${dir} && sh ${dir}/provision-guest.sh ${r.id} ${healthTimeoutS}${wait ? "" : " nowait"}`,
      { input: tar.stdout, timeoutMs: (healthTimeoutS + 600) * 1000, onLine },
    );
    if (res.code !== 0) {
      const tail = (res.stderr || res.stdout).trim().split("\n").slice(-4).join(" | ");
      throw new VmdError(
        "err_provision",
        `provisioning ${r.id} failed (exit ${res.code}): ${tail}`,
        `look at the gateway's log: vm-ctl logs ${r.id}`,
      );
    }
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
