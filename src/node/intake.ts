import { VmdError } from "../errors.js";
import { DataItem } from "../protocol/data-item.js";
import { ProtocolError } from "../protocol/errors.js";
import { extractParams } from "../protocol/hymx.js";
import type { NodeRecord } from "../vm/core/registry.js";
import type { Network } from "./network.js";
import type { ProcessTable } from "./processes.js";

/** The item belongs to another node: answer 308 with where to go. */
export class RedirectError extends VmdError {
  constructor(
    readonly location: string,
    readonly body: NodeRecord | NodeRecord[],
  ) {
    super("err_redirect", `served by ${location}`);
  }
}

/** An item on its way in, as the intake steps see it. */
export interface Arrival {
  item: DataItem;
  /** Its Type tag; after the `type` step, "Process" (a spawn) or "Message". */
  type: string;
  /** The process it is for: its own id for a spawn, its target for a message. */
  pid: string;
}

/**
 * One check of an arriving item. Throws a ProtocolError (refused, 400) or a RedirectError (308)
 * to stop the item; returns to let it on to the next step.
 */
export interface IntakeStep {
  name: string;
  check(arrival: Arrival): void | Promise<void>;
}

export interface IntakeDeps {
  /** This node's address (its signer's). */
  address: string;
  /** Who serves which process (replaced when the node joins a network). */
  network: () => Network;
  procs: ProcessTable;
  registryPid: () => string | undefined;
}

/**
 * The first stage of POST /: decode, then every step in `steps` order (verify, type, params,
 * route, authorize). What passes goes to the scheduler. Steps are a list so that more checks
 * (deduplication, canonical signatures) slot in where they belong.
 */
export class Intake {
  readonly steps: IntakeStep[];

  constructor(private readonly deps: IntakeDeps) {
    this.steps = [
      { name: "verify", check: ({ item }) => verifyStep(item) },
      { name: "type", check: typeStep },
      { name: "params", check: ({ item, type }) => void extractParams(item, asKind(type)) },
      {
        name: "route",
        check: (a) => (a.type === "Process" ? this.routeSpawn(a) : this.routeMessage(a)),
      },
      { name: "authorize", check: (a) => (a.type === "Message" ? this.authorize(a) : undefined) },
    ];
  }

  /** Decodes the ANS-104 bytes and runs every step; throws what the first failing step throws. */
  async admit(raw: Uint8Array): Promise<Arrival> {
    const item = DataItem.decode(raw);
    const type = item.tag("Type") ?? "";
    const arrival: Arrival = { item, type, pid: type === "Process" ? item.id : item.targetId };
    for (const step of this.steps) await step.check(arrival);
    return arrival;
  }

  /** A spawn names this node as its Scheduler, or is sent where its Scheduler is. */
  private async routeSpawn({ item }: Arrival): Promise<void> {
    const scheduler = item.tag("Scheduler") ?? "";
    if (scheduler === this.deps.address) return;
    const other = await this.deps
      .network()
      .node(scheduler)
      .catch(() => undefined);
    if (other?.URL) throw new RedirectError(other.URL, other);
    throw new ProtocolError("err_invalid_scheduler", `this node is ${this.deps.address}`);
  }

  /** A message goes to a process that runs here (and is not stopped), or to the node that runs it. */
  private async routeMessage({ pid }: Arrival): Promise<void> {
    const state = this.deps.procs.get(pid);
    if (state?.stopped) throw new ProtocolError("err_process_stopped");
    if (state?.spawnError && !state.vm)
      throw new ProtocolError("err_process_not_running", `its spawn failed: ${state.spawnError}`);
    if (state) return;
    const others = (
      await this.deps
        .network()
        .nodesOf(pid)
        .catch(() => [])
    ).filter((n) => n["Acc-Id"] !== this.deps.address && n.URL);
    if (others[0]) throw new RedirectError(others[0].URL, others);
    throw new ProtocolError("err_process_not_found");
  }

  /**
   * A message that claims to come from a process must be signed by a node serving that process
   * (this node, or one the registry names). A RegisterProcess to the registry is checked against
   * the spawn item itself, fetched from the signing node: its Scheduler must be the Acc-Id.
   */
  private async authorize({ item, pid }: Arrival): Promise<void> {
    const from = item.tag("From-Process");
    if (!from) return;
    const signer = item.address;
    if (signer === this.deps.address) return;
    const network = this.deps.network();
    if (pid === this.deps.registryPid() && item.tag("Action") === "RegisterProcess") {
      const spawnId = item.tag("Pid") ?? "";
      const node = await network.node(signer).catch(() => undefined);
      const res = node?.URL
        ? await fetch(`${node.URL.replace(/\/+$/, "")}/message/${spawnId}`, {
            signal: AbortSignal.timeout(10_000),
          }).catch(() => null)
        : null;
      const json = res?.ok ? await res.json().catch(() => null) : null;
      const spawn = json ? DataItem.fromJSON(json) : null;
      if (
        !spawn ||
        spawn.id !== spawnId ||
        !spawn.verify() ||
        spawn.tag("Scheduler") !== item.tag("Acc-Id") ||
        from !== spawnId
      ) {
        throw new ProtocolError("err_unauthorized_node");
      }
      return;
    }
    const nodes = await network.nodesOf(from).catch(() => []);
    if (!nodes.some((n) => n["Acc-Id"] === signer))
      throw new ProtocolError("err_unauthorized_node");
  }
}

function verifyStep(item: DataItem): void {
  if (!item.verify()) throw new ProtocolError("err_invalid_signature");
}

function typeStep({ type }: Arrival): void {
  if (type !== "Process" && type !== "Message")
    throw new ProtocolError("err_invalid_type", `Type ${JSON.stringify(type)}`);
}

const asKind = (type: string) => (type === "Process" ? "Process" : "Message");
