// The host side of bridge networking (seed, "Networking"): one bridge with the guests' gateway
// address, NAT for their outbound traffic, and one TAP per guest on an isolated bridge port, so
// guests reach the host and the outside but never each other. Needs root (CAP_NET_ADMIN).
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { VmdError } from "../../errors.js";
import { run, runOrThrow } from "../../sys/exec.js";
import type { MicrovmEnv } from "../env.js";
import { writePrivate } from "../envfile.js";
import { networkRecord } from "../paths.js";

const IP_FORWARD = "/proc/sys/net/ipv4/ip_forward";

/** What `ensureBridge` created, so the last instance's destroy can take exactly that away. */
interface NetworkRecord {
  bridge: string;
  bridgeCreated: boolean;
  /** iptables rules added, as `-t TABLE CHAIN spec...` argument lists. */
  rules: string[][];
  ipForwardBefore: string | null;
}

const HINT = "run as root (sudo) with iproute2 and iptables installed, or pass --network user";

async function ip(args: string[], what: string): Promise<void> {
  await runOrThrow("ip", args, what, HINT);
}

export async function linkExists(name: string): Promise<boolean> {
  return (await run("ip", ["link", "show", "dev", name])).code === 0;
}

/** The NAT and forwarding rules for the guests' subnet: `[table, chain, ...match]`. */
export function natRules(env: MicrovmEnv): string[][] {
  const br = env.bridgeName;
  const net = env.subnet.text;
  return [
    ["nat", "POSTROUTING", "-s", net, "!", "-o", br, "-j", "MASQUERADE"],
    ["filter", "FORWARD", "-i", br, "!", "-o", br, "-j", "ACCEPT"],
    [
      "filter",
      "FORWARD",
      "-o",
      br,
      "-m",
      "conntrack",
      "--ctstate",
      "RELATED,ESTABLISHED",
      "-j",
      "ACCEPT",
    ],
  ];
}

async function ruleExists(rule: string[]): Promise<boolean> {
  const [table, chain, ...spec] = rule;
  return (await run("iptables", ["-w", "-t", table!, "-C", chain!, ...spec])).code === 0;
}

function readRecord(env: MicrovmEnv): NetworkRecord | null {
  const file = networkRecord(env);
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, "utf8")) as NetworkRecord;
}

/**
 * Creates the bridge (with BRIDGE_ADDR), turns on IPv4 forwarding and adds the NAT rules, each
 * only when missing; records what it created. Idempotent. Callers hold the allocation lock.
 * @throws VmdError err_host_command when a command fails (typically: not root)
 */
export async function ensureBridge(env: MicrovmEnv): Promise<void> {
  const rec: NetworkRecord = readRecord(env) ?? {
    bridge: env.bridgeName,
    bridgeCreated: false,
    rules: [],
    ipForwardBefore: null,
  };
  const br = env.bridgeName;
  const addr = `${env.bridgeAddr.ip}/${env.bridgeAddr.prefix}`;
  if (!(await linkExists(br))) {
    await ip(["link", "add", "name", br, "type", "bridge"], `creating bridge ${br}`);
    rec.bridgeCreated = true;
  }
  const shown = await run("ip", ["-4", "-o", "addr", "show", "dev", br]);
  if (!shown.stdout.includes(` ${addr} `))
    await ip(["addr", "add", addr, "dev", br], `adding ${addr} to ${br}`);
  await ip(["link", "set", "dev", br, "up"], `bringing ${br} up`);
  const forward = readFileSync(IP_FORWARD, "utf8").trim();
  if (forward !== "1") {
    rec.ipForwardBefore ??= forward;
    writeFileSync(IP_FORWARD, "1\n");
  }
  for (const rule of natRules(env)) {
    if (await ruleExists(rule)) continue;
    const [table, chain, ...spec] = rule;
    await runOrThrow(
      "iptables",
      ["-w", "-t", table!, "-I", chain!, "1", ...spec],
      `adding the ${chain} rule for ${env.subnet.text}`,
      HINT,
    );
    rec.rules.push(rule);
  }
  writePrivate(networkRecord(env), JSON.stringify(rec, null, 2));
}

/**
 * Removes what `ensureBridge` created (rules it added, the bridge if it made it, ip_forward as it
 * was). Called when no bridge-mode instance is left. Failures are collected, not thrown.
 */
export async function removeBridge(env: MicrovmEnv): Promise<string[]> {
  const rec = readRecord(env);
  if (!rec) return [];
  const problems: string[] = [];
  for (const rule of rec.rules) {
    const [table, chain, ...spec] = rule;
    const res = await run("iptables", ["-w", "-t", table!, "-D", chain!, ...spec]);
    if (res.code !== 0) problems.push(`iptables -D ${chain}: ${res.stderr.trim()}`);
  }
  if (rec.bridgeCreated && (await linkExists(rec.bridge))) {
    const res = await run("ip", ["link", "del", "dev", rec.bridge]);
    if (res.code !== 0) problems.push(`ip link del ${rec.bridge}: ${res.stderr.trim()}`);
  }
  if (rec.ipForwardBefore !== null) writeFileSync(IP_FORWARD, `${rec.ipForwardBefore}\n`);
  rmSync(networkRecord(env), { force: true });
  return problems;
}

/** A TAP name (at most 15 bytes) for an instance: `fc-<id>` when it fits, else `fc-<hash>`. */
export function tapName(id: string, hash: string): string {
  return `fc-${id}`.length <= 15 ? `fc-${id}` : `fc-${hash.slice(0, 12)}`;
}

/**
 * Creates the instance's TAP (when missing), attaches it to the bridge as an isolated port (no
 * traffic to other isolated ports: guests cannot reach each other) and brings it up.
 */
export async function ensureTap(env: MicrovmEnv, tap: string): Promise<void> {
  if (!(await linkExists(tap)))
    await ip(["tuntap", "add", "dev", tap, "mode", "tap"], `creating TAP ${tap}`);
  await ip(["link", "set", "dev", tap, "master", env.bridgeName], `attaching ${tap}`);
  await runOrThrow(
    "bridge",
    ["link", "set", "dev", tap, "isolated", "on"],
    `isolating ${tap}`,
    "the kernel needs bridge port isolation (Linux >= 4.18)",
  );
  await ip(["link", "set", "dev", tap, "up"], `bringing ${tap} up`);
}

/** Deletes a TAP; missing is fine. */
export async function removeTap(tap: string): Promise<void> {
  if (!tap || !(await linkExists(tap))) return;
  await ip(["link", "del", "dev", tap], `deleting TAP ${tap}`);
}

/**
 * Refuses bridge mode without root, before anything is touched.
 * @throws VmdError err_needs_root
 */
export function checkBridgeAllowed(isRoot: boolean): void {
  if (!isRoot)
    throw new VmdError(
      "err_needs_root",
      "bridge networking creates a bridge, TAP devices and NAT rules, which needs root",
      "run with sudo, or pass --network user (QEMU's user-mode network with a loopback port forward)",
    );
}
