// The first-boot seed (the seed's cloud-init image): a small ext4 filesystem labelled `cidata` in
// NoCloud layout (meta-data, user-data, network-config) that cloud-init images read, plus a
// vmdemo/ folder that the built images' first-boot step reads. It carries root's authorized key
// and the guest's SSH host key (so the host knows it before the first login): kept 0600.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runOrThrow } from "../../sys/exec.js";

export interface SeedInputs {
  id: string;
  mac: string;
  /** `a.b.c.d/p` */
  address: string;
  gateway: string;
  dns: string[];
  authorizedKey: string;
  hostKeyPrivate: string;
  hostKeyPublic: string;
}

const indent = (text: string, by: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((l) => `${by}${l}`)
    .join("\n");

/** The seed's files by path (pure). */
export function seedFiles(s: SeedInputs): Record<string, string> {
  return {
    "meta-data": `instance-id: vmdemo-${s.id}\nlocal-hostname: ${s.id}\n`,
    "user-data": [
      "#cloud-config",
      `hostname: ${s.id}`,
      "disable_root: false",
      "ssh_pwauth: false",
      "ssh_authorized_keys:",
      `  - ${s.authorizedKey.trim()}`,
      "ssh_keys:",
      "  ed25519_private: |",
      indent(s.hostKeyPrivate, "    "),
      `  ed25519_public: ${s.hostKeyPublic.trim()}`,
      "",
    ].join("\n"),
    "network-config": [
      "version: 2",
      "ethernets:",
      "  eth0:",
      "    match:",
      `      macaddress: "${s.mac}"`,
      `    addresses: [${s.address}]`,
      ...(s.gateway ? ["    routes:", "      - to: default", `        via: ${s.gateway}`] : []),
      ...(s.dns.length ? ["    nameservers:", `      addresses: [${s.dns.join(", ")}]`] : []),
      "",
    ].join("\n"),
    "vmdemo/network.env": [
      `HOSTNAME=${s.id}`,
      `MAC=${s.mac}`,
      `ADDRESS=${s.address}`,
      `GATEWAY=${s.gateway}`,
      `DNS=${s.dns.join(" ")}`,
      "",
    ].join("\n"),
    "vmdemo/authorized_keys": `${s.authorizedKey.trim()}\n`,
    "vmdemo/ssh_host_ed25519_key": `${s.hostKeyPrivate.trimEnd()}\n`,
    "vmdemo/ssh_host_ed25519_key.pub": `${s.hostKeyPublic.trim()}\n`,
  };
}

/** Nameservers the host uses that a guest can reach too (loopback resolvers are left out). */
export function hostNameservers(resolvConf: string): string[] {
  return [...resolvConf.matchAll(/^nameserver\s+(\S+)/gm)]
    .map((m) => m[1]!)
    .filter((ip) => /^\d+\.\d+\.\d+\.\d+$/.test(ip) && !ip.startsWith("127."));
}

export function readHostNameservers(): string[] {
  try {
    return hostNameservers(readFileSync("/etc/resolv.conf", "utf8"));
  } catch {
    return [];
  }
}

/** Writes the seed image (ext4, label cidata, mode 0600) to `out`. */
export async function writeSeedImage(s: SeedInputs, out: string): Promise<void> {
  const stage = mkdtempSync(join(tmpdir(), "vmdemo-seed-"));
  try {
    for (const [path, text] of Object.entries(seedFiles(s))) {
      mkdirSync(dirname(join(stage, path)), { recursive: true, mode: 0o700 });
      writeFileSync(join(stage, path), text, { mode: 0o600 });
    }
    writeFileSync(out, "", { mode: 0o600 });
    await runOrThrow(
      "mkfs.ext4",
      ["-q", "-F", "-L", "cidata", "-d", stage, out, "8M"],
      "making the seed image",
      "install e2fsprogs >= 1.43 (mkfs.ext4 -d)",
    );
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
