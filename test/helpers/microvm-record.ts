import { macForIp } from "../../src/microvm/net/cidr.js";
import type { InstanceRecord } from "../../src/microvm/state.js";

/** An instance record for pure tests: a bridge-mode QEMU bot at 172.16.0.2, port 18890. */
export function testRecord(id: string, over: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    id,
    vmm: "qemu",
    accel: "tcg",
    network: "bridge",
    guestIp: "172.16.0.2",
    guestMac: macForIp("172.16.0.2"),
    gatewayIp: "172.16.0.1",
    prefix: 24,
    tapName: `fc-${id}`,
    hostPort: 18890,
    sshPort: 0,
    vcpu: 2,
    memMib: 2048,
    model: "anthropic/claude-opus-4-6",
    kernel: "/img/vmlinux",
    initrd: "/img/initrd.img",
    rootfs: "/img/rootfs.ext4",
    diskFormat: "qcow2",
    desired: "running",
    supervisor: "own",
    createdAt: "2026-11-30T00:00:00.000Z",
    ...over,
  };
}
