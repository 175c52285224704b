// IPv4 arithmetic for the guests' subnet: pure functions, no I/O.
import { VmdError } from "../../errors.js";

export interface Cidr {
  /** As given, normalised: `172.16.0.0/24`. */
  text: string;
  network: number;
  prefix: number;
  /** The n-th address after the network address, as a dotted quad. */
  host(n: number): string;
  contains(ip: string): boolean;
  /** Usable host addresses: everything but the network and broadcast addresses. */
  hosts(): string[];
  netmask: string;
}

/** `a.b.c.d` → 32-bit unsigned, or null when it is not a dotted quad. */
export function ipToInt(ip: string): number | null {
  const parts = ip.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = n * 256 + Number(p);
  }
  return n;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function bad(name: string, value: string, example: string): VmdError {
  return new VmdError(
    "err_bad_env",
    `${name}=${value} is not ${example}`,
    `set ${name}=${example}`,
  );
}

/**
 * Parses `a.b.c.d/p` (p in 8..30) into a network. The address must be the network address.
 * @throws VmdError err_bad_env
 */
export function parseCidr(value: string, name: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(value.trim());
  const ip = m ? ipToInt(m[1]!) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === null || !(prefix >= 8 && prefix <= 30))
    throw bad(name, value, "a network such as 172.16.0.0/24 (prefix 8 to 30)");
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  if ((ip & mask) >>> 0 !== ip)
    throw new VmdError(
      "err_bad_env",
      `${name}=${value} has host bits set`,
      `set ${name}=${intToIp((ip & mask) >>> 0)}/${prefix}`,
    );
  const size = 2 ** (32 - prefix);
  return {
    text: `${intToIp(ip)}/${prefix}`,
    network: ip,
    prefix,
    netmask: intToIp(mask),
    host: (n) => intToIp(ip + n),
    contains(addr) {
      const a = ipToInt(addr);
      return a !== null && (a & mask) >>> 0 === ip;
    },
    hosts() {
      const out: string[] = [];
      for (let i = 1; i < size - 1; i++) out.push(intToIp(ip + i));
      return out;
    },
  };
}

/**
 * Parses an interface address `a.b.c.d/p` (the host's address on the bridge).
 * @throws VmdError err_bad_env
 */
export function parseInterfaceAddress(value: string, name: string): { ip: string; prefix: number } {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(value.trim());
  const ip = m ? ipToInt(m[1]!) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === null || !(prefix >= 8 && prefix <= 30))
    throw bad(name, value, "an address with its prefix such as 172.16.0.1/24");
  return { ip: intToIp(ip), prefix };
}

/** A locally administered, unicast MAC address derived from the guest's IPv4 address. */
export function macForIp(ip: string): string {
  const n = ipToInt(ip) ?? 0;
  const bytes = [0x06, 0xfc, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
