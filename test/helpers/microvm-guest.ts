// A small real guest for tests that need many boots: the built Debian kernel and initramfs (its
// busybox and modules) with a test /init appended as a second cpio archive (the kernel unpacks
// both; the later /init wins). The guest reads its address from the vmdemo seed disk like the real
// first-boot step, serves /health on 18789 with busybox httpd, and two CGI scripts: `fetch?url=`
// (what the guest can reach) and `counter` (state in guest memory, to tell a restore from a boot).
// The ACPI power button powers it off, as systemd does in the real guest.
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { MicrovmEnv } from "../../src/microvm/env.js";
import { builtKernel } from "../../src/microvm/images/base.js";
import { packCpio } from "../../src/microvm/images/initrd.js";
import { silentProgress } from "../../src/progress.js";
import { hashParts } from "../../src/runtime/images/inputs.js";
import { runOrThrow } from "../../src/sys/exec.js";

const INIT = `#!/bin/busybox sh
bb=/bin/busybox
$bb --install -s /bin
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in /lib/modules/*.ko; do $bb insmod "$m" 2>/dev/null; done
i=0
while [ ! -b /dev/vdb ] && [ "$i" -lt 200 ]; do $bb sleep 0.05; i=$((i + 1)); done
$bb mkdir -p /seed
$bb mount -t ext4 -o ro /dev/vdb /seed
addr=$($bb sed -n 's/^ADDRESS=//p' /seed/vmdemo/network.env)
gw=$($bb sed -n 's/^GATEWAY=//p' /seed/vmdemo/network.env)
$bb ip link set lo up
$bb ip link set eth0 up
$bb ip addr add "$addr" dev eth0
[ -n "$gw" ] && $bb ip route add default via "$gw"
echo ok >/www/health
echo 0 >/tmp/counter
for ev in /dev/input/event*; do
  ( $bb head -c 1 "$ev" >/dev/null && echo "VMTEST power button" && $bb poweroff -f ) &
done
$bb httpd -p 18789 -h /www
echo "VMTEST-READY $addr"
while true; do $bb sleep 3600; done
`;

const FETCH = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
url=$(echo "$QUERY_STRING" | /bin/busybox sed 's/^url=//')
if out=$(/bin/busybox timeout 5 /bin/busybox wget -q -O - "$url" 2>&1); then echo "FETCH-OK $out"; else echo "FETCH-FAILED $out"; fi
`;

const COUNTER = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
n=$(( $(/bin/busybox cat /tmp/counter) + 1 ))
echo "$n" >/tmp/counter
echo "$n"
`;

/**
 * Returns the test initramfs for `baseInitrd` (cached next to it by content): the base archive
 * followed by the test overlay.
 */
export async function testInitrd(baseInitrd: string, cacheDir: string): Promise<string> {
  const key = hashParts([readFileSync(baseInitrd), INIT, FETCH, COUNTER]).slice(0, 16);
  const out = join(cacheDir, `test-initrd-${key}.img`);
  if (existsSync(out)) return out;
  const stage = join(cacheDir, `test-initrd-${key}.stage`);
  rmSync(stage, { recursive: true, force: true });
  for (const d of ["bin", "www/cgi-bin", "tmp", "seed"])
    mkdirSync(join(stage, d), { recursive: true });
  writeFileSync(join(stage, "init"), INIT, { mode: 0o755 });
  writeFileSync(join(stage, "www", "cgi-bin", "fetch"), FETCH, { mode: 0o755 });
  writeFileSync(join(stage, "www", "cgi-bin", "counter"), COUNTER, { mode: 0o755 });
  const overlay = `${out}.overlay`;
  await packCpio(stage, overlay);
  rmSync(stage, { recursive: true, force: true });
  copyFileSync(baseInitrd, `${out}.part`);
  appendFileSync(`${out}.part`, readFileSync(overlay));
  rmSync(overlay);
  copyFileSync(`${out}.part`, out);
  rmSync(`${out}.part`);
  return out;
}

/** Kernel, test initramfs and an empty root disk for the test guest (built or cached). */
export async function testGuestImages(
  env: MicrovmEnv,
): Promise<{ kernel: string; initrd: string; rootfs: string }> {
  const kernel = await builtKernel(env, silentProgress);
  const cache = join(env.imageCache, "test");
  mkdirSync(cache, { recursive: true });
  const initrd = await testInitrd(kernel.initrd, cache);
  const rootfs = join(cache, "empty-rootfs.ext4");
  if (!existsSync(rootfs))
    await runOrThrow(
      "mkfs.ext4",
      ["-q", "-F", "-L", "test-root", rootfs, "32M"],
      "mkfs",
      "e2fsprogs",
    );
  return { kernel: kernel.vmlinux, initrd, rootfs };
}
