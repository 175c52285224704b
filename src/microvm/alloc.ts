// Addresses and ports for a new instance: the lowest free guest IP of SUBNET_CIDR and the lowest
// free localhost port from BASE_PORT up. Callers hold the allocation lock.
import { createServer } from "node:net";
import { VmdError } from "../errors.js";
import type { MicrovmEnv } from "./env.js";
import type { InstanceRecord } from "./state.js";

/**
 * The lowest address of the subnet that is neither the bridge's nor another bridge-mode guest's.
 * @throws VmdError err_ip_pool_full
 */
export function pickGuestIp(env: MicrovmEnv, others: InstanceRecord[]): string {
  const used = new Set([
    env.bridgeAddr.ip,
    ...others.filter((o) => o.network === "bridge").map((o) => o.guestIp),
  ]);
  const free = env.subnet.hosts().find((ip) => !used.has(ip));
  if (!free)
    throw new VmdError(
      "err_ip_pool_full",
      `no free guest address in SUBNET_CIDR=${env.subnet.text} (${used.size - 1} instances use it)`,
      "destroy an instance you no longer need, or set SUBNET_CIDR (and BRIDGE_ADDR) to a larger network",
    );
  return free;
}

/** Whether 127.0.0.1:`port` can be bound right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/**
 * `count` ports from BASE_PORT up that no instance has and nothing listens on.
 * @throws VmdError err_port_pool_full
 */
export async function pickPorts(
  env: MicrovmEnv,
  others: InstanceRecord[],
  count: number,
): Promise<number[]> {
  const used = new Set(others.flatMap((o) => [o.hostPort, o.sshPort]));
  const out: number[] = [];
  for (let port = env.basePort; port <= 65535 && out.length < count; port++) {
    if (!used.has(port) && (await portFree(port))) out.push(port);
  }
  if (out.length < count)
    throw new VmdError(
      "err_port_pool_full",
      `no free localhost port from BASE_PORT=${env.basePort} up`,
      "set BASE_PORT to a range with free ports",
    );
  return out;
}

/**
 * Checks a port the user asked for (`--host-port`).
 * @throws VmdError err_port_taken
 */
export async function checkRequestedPort(
  port: number,
  others: InstanceRecord[],
  flag = "--host-port",
): Promise<void> {
  const owner = others.find((o) => o.hostPort === port || o.sshPort === port);
  if (owner || !(await portFree(port)))
    throw new VmdError(
      "err_port_taken",
      `127.0.0.1:${port} is ${owner ? `instance ${owner.id}'s port` : "in use by another program"}`,
      `pass another ${flag}, or leave it out to take the next free port from BASE_PORT`,
    );
}
