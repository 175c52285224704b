import type { Env, Meta } from "../../protocol/hymx.js";
import { evaluateOnCopy, type Vm, type VmFactory, type VmResult } from "../contract.js";

export const REGISTRY_FORMAT = "hymx.core.registry.0.0.0";

export interface NodeRecord {
  "Acc-Id": string;
  Name: string;
  Role: string;
  Desc: string;
  URL: string;
}

interface RegistryState {
  tokenPid: string;
  nodes: Record<string, NodeRecord>;
  /** pid → node addresses serving it */
  processes: Record<string, string[]>;
}

/**
 * The core registry: which nodes exist (Register/Unregister, only from the token) and which node
 * serves which process (RegisterProcess/UnregisterProcess, only from the process itself). Its
 * spawner is registered as the main node.
 */
export class RegistryVm implements Vm {
  private s: RegistryState;

  constructor(env: Env) {
    const tag = (n: string) => env.Process.Tags?.find((t) => t.name === n)?.value ?? "";
    const main = env.Meta["Acc-Id"];
    const tokenPid = tag("Token-Pid");
    // The token is spawned before the registry exists, so the registry starts out knowing it.
    const processes: Record<string, string[]> = { [env.Meta.Pid]: [main] };
    if (tokenPid) processes[tokenPid] = [main];
    this.s = {
      tokenPid,
      nodes: {
        [main]: {
          "Acc-Id": main,
          Name: tag("Name"),
          Role: "main",
          Desc: tag("Desc"),
          URL: tag("URL"),
        },
      },
      processes,
    };
  }

  nodes(): Record<string, NodeRecord> {
    return this.s.nodes;
  }

  nodesOf(pid: string): NodeRecord[] {
    return (this.s.processes[pid] ?? [])
      .map((a) => this.s.nodes[a])
      .filter((n): n is NodeRecord => !!n);
  }

  processesOf(acc: string): string[] {
    return Object.entries(this.s.processes)
      .filter(([, accs]) => accs.includes(acc))
      .map(([pid]) => pid);
  }

  async apply(_from: string, meta: Meta): Promise<VmResult> {
    const p = meta.Params;
    const sender = meta["From-Process"];
    switch (meta.Action) {
      case "Register":
      case "Unregister": {
        if (!sender || sender !== this.s.tokenPid)
          return { Error: "err_unauthorized: only the token registers nodes" };
        const acc = p["Acc-Id"];
        if (!acc) return { Error: "err_invalid_params: Acc-Id" };
        if (meta.Action === "Register") {
          this.s.nodes[acc] = {
            "Acc-Id": acc,
            Name: p.Name ?? "",
            Role: this.s.nodes[acc]?.Role ?? "",
            Desc: p.Desc ?? "",
            URL: p.URL ?? "",
          };
        } else delete this.s.nodes[acc];
        return { Data: acc };
      }
      case "RegisterProcess":
      case "UnregisterProcess": {
        const pid = p.Pid;
        if (!pid || sender !== pid)
          return { Error: "err_unauthorized: only a process registers itself" };
        const acc = p["Acc-Id"] ?? "";
        const list = this.s.processes[pid] ?? [];
        if (meta.Action === "RegisterProcess") {
          if (!list.includes(acc)) list.push(acc);
          this.s.processes[pid] = list;
        } else this.s.processes[pid] = list.filter((a) => a !== acc);
        return { Data: pid };
      }
      default:
        return { Error: `err_unknown_action: ${meta.Action || "(none)"}` };
    }
  }

  /** Every action needs a signed From-Process, which a dry-run never carries. */
  dryRun(from: string, meta: Meta): Promise<VmResult> {
    return evaluateOnCopy(this, () => this.apply(from, { ...meta, "From-Process": "" }));
  }

  async checkpoint(): Promise<string> {
    return JSON.stringify(this.s);
  }

  publicState(): Promise<string> {
    return this.checkpoint();
  }

  async restore(data: string): Promise<void> {
    this.s = JSON.parse(data) as RegistryState;
  }

  async close(): Promise<void> {}
}

export const registryFactory: VmFactory = async (env) => new RegistryVm(env);
