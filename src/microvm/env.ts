// The variables every microVM command respects (seed fireclaw-vm-demo, "Environment variables"),
// with the seed's defaults, read once and validated.
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { VmdError } from "../errors.js";
import { packageRoot } from "../package-root.js";
import { parseCidr, parseInterfaceAddress, type Cidr } from "./net/cidr.js";

/** Resolved settings; paths absolute, networks parsed. */
export interface MicrovmEnv {
  /** `STATE_ROOT` (default `<repo>/.vm-demo`): env file, token and provision vars per instance. */
  stateRoot: string;
  /** `FC_ROOT` (default `/srv/firecracker/vm-demo`): disks, VMM config, sockets, logs per instance. */
  fcRoot: string;
  /** `BASE_PORT` (default 18890): the first localhost port handed to an instance's proxy. */
  basePort: number;
  /** `BRIDGE_NAME` (default `fcbr0`). */
  bridgeName: string;
  /** `BRIDGE_ADDR` (default `172.16.0.1/24`): the host's address on the bridge, the guests' gateway. */
  bridgeAddr: { ip: string; prefix: number };
  /** `SUBNET_CIDR` (default `172.16.0.0/24`): the pool guests get their addresses from. */
  subnet: Cidr;
  /** `SSH_KEY_PATH` (default `~/.ssh/vmdemo_vm`): the private key the host logs into guests with. */
  sshKeyPath: string;
  /** `BASE_IMAGES_DIR` (default `/srv/firecracker/base/images`): a user's own vmlinux, rootfs.ext4, initrd.img. */
  baseImagesDir: string;
  /** vmdocker's state folder (`VMDOCKER_HOME`, default ~/.vmdocker). */
  vmdockerHome: string;
  /** Where images built here are cached by content (`VMDOCKER_HOME`/cache/microvm). */
  imageCache: string;
}

export const ENV_DEFAULTS = {
  FC_ROOT: "/srv/firecracker/vm-demo",
  BASE_PORT: "18890",
  BRIDGE_NAME: "fcbr0",
  BRIDGE_ADDR: "172.16.0.1/24",
  SUBNET_CIDR: "172.16.0.0/24",
  BASE_IMAGES_DIR: "/srv/firecracker/base/images",
} as const;

/** The variables the microVM commands read, in the README's order. */
export const ENV_NAMES = [
  "STATE_ROOT",
  "FC_ROOT",
  "BASE_PORT",
  "BRIDGE_NAME",
  "BRIDGE_ADDR",
  "SUBNET_CIDR",
  "SSH_KEY_PATH",
  "BASE_IMAGES_DIR",
] as const;

const ID_PATTERN = /^[a-z0-9_-]+$/;
/** Long enough for humans, short enough that `<FC_ROOT>/<id>/run/qmp.sock` fits a socket path. */
const MAX_ID_LENGTH = 48;

/**
 * Refuses an instance id outside `[a-z0-9_-]+` (seed) or longer than 48 characters.
 * @throws VmdError err_bad_instance_id
 */
export function checkInstanceId(id: string | undefined): string {
  if (!id)
    throw new VmdError("err_bad_instance_id", "no instance id given", "pass --instance my-bot");
  if (!ID_PATTERN.test(id) || id.length > MAX_ID_LENGTH)
    throw new VmdError(
      "err_bad_instance_id",
      `instance id ${JSON.stringify(id)} is not allowed (only a-z, 0-9, _ and -, at most ${MAX_ID_LENGTH} characters)`,
      "pick an id such as my-bot",
    );
  return id;
}

function absolute(name: string, value: string): string {
  const expanded = value.startsWith("~/") ? join(homedir(), value.slice(2)) : value;
  if (!isAbsolute(expanded) && !value.startsWith("."))
    throw new VmdError(
      "err_bad_env",
      `${name}=${value} is not a path`,
      `set ${name} to an absolute path`,
    );
  return resolve(expanded);
}

/**
 * Reads the microVM variables from `env` (default `process.env`), applying the seed's defaults.
 * @throws VmdError err_bad_env naming the variable and a valid value
 */
export function microvmEnv(env: NodeJS.ProcessEnv = process.env): MicrovmEnv {
  const get = (k: keyof typeof ENV_DEFAULTS) => env[k]?.trim() || ENV_DEFAULTS[k];
  const basePort = Number(get("BASE_PORT"));
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65000)
    throw new VmdError(
      "err_bad_env",
      `BASE_PORT=${get("BASE_PORT")} is not a port between 1024 and 65000`,
      "set BASE_PORT=18890",
    );
  const bridgeName = get("BRIDGE_NAME");
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(bridgeName))
    throw new VmdError(
      "err_bad_env",
      `BRIDGE_NAME=${bridgeName} is not a network interface name (1-15 of A-Z a-z 0-9 _ . -)`,
      "set BRIDGE_NAME=fcbr0",
    );
  const subnet = parseCidr(get("SUBNET_CIDR"), "SUBNET_CIDR");
  const bridgeAddr = parseInterfaceAddress(get("BRIDGE_ADDR"), "BRIDGE_ADDR");
  if (!subnet.contains(bridgeAddr.ip) || bridgeAddr.prefix !== subnet.prefix)
    throw new VmdError(
      "err_bad_env",
      `BRIDGE_ADDR=${get("BRIDGE_ADDR")} is not an address of SUBNET_CIDR=${subnet.text}`,
      `set BRIDGE_ADDR to a host address inside ${subnet.text} with the same prefix, e.g. ${subnet.host(1)}/${subnet.prefix}`,
    );
  const home = resolve(env.VMDOCKER_HOME ?? join(homedir(), ".vmdocker"));
  return {
    stateRoot: absolute("STATE_ROOT", env.STATE_ROOT?.trim() || join(packageRoot(), ".vm-demo")),
    fcRoot: absolute("FC_ROOT", get("FC_ROOT")),
    basePort,
    bridgeName,
    bridgeAddr,
    subnet,
    sshKeyPath: absolute(
      "SSH_KEY_PATH",
      env.SSH_KEY_PATH?.trim() || join(homedir(), ".ssh", "vmdemo_vm"),
    ),
    baseImagesDir: absolute("BASE_IMAGES_DIR", get("BASE_IMAGES_DIR")),
    vmdockerHome: home,
    imageCache: join(home, "cache", "microvm"),
  };
}

/** The variables as `KEY=value` pairs, for a systemd unit's Environment= or a child's env. */
export function envPairs(e: MicrovmEnv): Record<string, string> {
  return {
    STATE_ROOT: e.stateRoot,
    FC_ROOT: e.fcRoot,
    BASE_PORT: String(e.basePort),
    BRIDGE_NAME: e.bridgeName,
    BRIDGE_ADDR: `${e.bridgeAddr.ip}/${e.bridgeAddr.prefix}`,
    SUBNET_CIDR: e.subnet.text,
    SSH_KEY_PATH: e.sshKeyPath,
    BASE_IMAGES_DIR: e.baseImagesDir,
    VMDOCKER_HOME: e.vmdockerHome,
  };
}
