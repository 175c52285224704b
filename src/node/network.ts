import { VmdError } from "../errors.js";
import type { NodeRecord, RegistryVm } from "../vm/core/registry.js";

/** Who serves what: answered by the local registry, or by the main node of a network this node joined. */
export interface Network {
  registryPid(): string | undefined;
  tokenPid(): string | undefined;
  nodesOf(pid: string): Promise<NodeRecord[]>;
  node(acc: string): Promise<NodeRecord | undefined>;
}

/** The registry process running on this node. */
export class LocalNetwork implements Network {
  constructor(
    private readonly core: {
      token?: string;
      registry?: string;
      registryVm(): RegistryVm | undefined;
    },
  ) {}

  registryPid(): string | undefined {
    return this.core.registry;
  }

  tokenPid(): string | undefined {
    return this.core.token;
  }

  async nodesOf(pid: string): Promise<NodeRecord[]> {
    return this.core.registryVm()?.nodesOf(pid) ?? [];
  }

  async node(acc: string): Promise<NodeRecord | undefined> {
    return this.core.registryVm()?.nodes()[acc];
  }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok)
    throw new VmdError(
      "err_network",
      `GET ${url} answered ${res.status}`,
      "check that the main node (hymxURL) is up",
    );
  return (await res.json()) as T;
}

/** The registry of the main node (hymxURL), asked over HTTP. */
export class RemoteNetwork implements Network {
  constructor(
    readonly mainUrl: string,
    private readonly pids: { Token: string; Registry: string },
  ) {}

  registryPid(): string {
    return this.pids.Registry;
  }

  tokenPid(): string {
    return this.pids.Token;
  }

  async nodesOf(pid: string): Promise<NodeRecord[]> {
    return (await getJson<NodeRecord[] | null>(`${this.mainUrl}/nodesByProcess/${pid}`)) ?? [];
  }

  async node(acc: string): Promise<NodeRecord | undefined> {
    return (await getJson<NodeRecord | null>(`${this.mainUrl}/node/${acc}`)) ?? undefined;
  }
}
