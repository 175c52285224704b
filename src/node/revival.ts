import { errorText } from "../errors.js";
import type { Logger } from "../log.js";
import type { Cryptor } from "../protocol/ecies.js";
import { ProtocolError } from "../protocol/errors.js";
import type { Store } from "../store/types.js";
import type { VmRegistry } from "../vm/contract.js";
import type { Snapshot } from "./checkpoints.js";
import type { ProcessState } from "./processes.js";
import { envWithSecrets } from "./vm-input.js";

/** What making a process's VM again needs from the node. */
export interface RevivalDeps {
  vms: VmRegistry;
  store: Pick<Store, "result">;
  cryptor?: Cryptor;
  log: Logger;
}

function factoryOf(deps: RevivalDeps, format: string) {
  const factory = deps.vms.get(format);
  if (!factory) throw new ProtocolError("err_module_format_not_mounted", format);
  return factory;
}

/**
 * A fresh VM restored from a snapshot; the process's Env becomes the snapshot's. Throws
 * err_module_format_not_mounted, or what the VM's restore throws (then the VM is closed and the
 * process's state is left as it was).
 */
export async function restoreFrom(
  deps: RevivalDeps,
  state: ProcessState,
  snap: Snapshot,
): Promise<void> {
  const factory = factoryOf(deps, snap.Env.Module["Module-Format"]);
  const vm = await factory(envWithSecrets(snap.Env, deps.cryptor), { restoring: true });
  await vm.restore(snap.Data).catch(async (err: unknown) => {
    await vm.close().catch(() => {});
    throw err;
  });
  state.vm = vm;
  state.env = snap.Env;
  state.received = snap.Env["Received-Sequence"];
  state.checkpointedNonce = snap.Env.Nonce;
}

/**
 * A fresh VM from the process's spawn Env (Nonce 0, its Sequence past what the stored spawn
 * result sent; no spawn result is written, it has one).
 * Throws err_module_format_not_mounted, or what the VM's factory throws.
 */
export async function respawn(deps: RevivalDeps, state: ProcessState): Promise<void> {
  state.env = structuredClone(state.spawnEnv);
  // The spawn result's messages and spawns took a Sequence each (spawnVm), and receivers have
  // seen them; this spawn writes no result, so they are counted from the stored one.
  const spawned = await deps.store.result(state.pid);
  state.env.Sequence += (spawned?.Messages?.length ?? 0) + (spawned?.Spawns?.length ?? 0);
  state.received = state.env["Received-Sequence"];
  const factory = factoryOf(deps, state.env.Module["Module-Format"]);
  state.vm = await factory(envWithSecrets(state.env, deps.cryptor));
}

/**
 * Restores from `snap`; when that fails (a corrupt or missing memory image, a runtime that refuses
 * the state), logs one warning and spawns the process afresh instead. Either way the caller then
 * re-executes what the process had applied after `state.env.Nonce`. Throws what `respawn` throws.
 */
export async function restoreOrRespawn(
  deps: RevivalDeps,
  state: ProcessState,
  snap: Snapshot,
): Promise<void> {
  try {
    await restoreFrom(deps, state, snap);
  } catch (err) {
    deps.log.warn("could not restore the latest checkpoint, spawning the process afresh", {
      pid: state.pid,
      nonce: snap.Env.Nonce,
      error: errorText(err),
    });
    await respawn(deps, state);
  }
}
