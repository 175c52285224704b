// Creates a vmdemo instance with the small test guest (test/helpers/microvm-guest.ts) through the
// same allocation vm-setup uses (lock, address, port, disk, seed, VMM config, bridge, TAP), without
// booting or provisioning. Run as `node microvm-fixture.js create <id> <bridge|user> [memMib]`,
// inside the test's network namespace for bridge mode; prints the instance record as JSON.
import { microvmEnv } from "../../src/microvm/env.js";
import { allocateInstance } from "../../src/microvm/setup.js";
import { testGuestImages } from "./microvm-guest.js";

const [verb, id, network = "bridge", mem = "192"] = process.argv.slice(2);
if (verb !== "create" || !id || (network !== "bridge" && network !== "user")) {
  console.error("usage: microvm-fixture create <id> <bridge|user> [memMib]");
  process.exit(2);
}
const env = microvmEnv();
const images = await testGuestImages(env);
const undo: { what: string; fn: () => Promise<unknown> }[] = [];
try {
  const record = await allocateInstance(
    env,
    {
      id,
      network,
      hostPort: null,
      vcpu: 1,
      memMib: Number(mem),
      model: "test/none",
      ...images,
      vmm: "qemu",
      accel: "tcg",
    },
    undo,
  );
  console.log(JSON.stringify(record));
} catch (err) {
  for (const u of undo.reverse()) await u.fn().catch(() => {});
  console.error(`microvm-fixture: ${(err as Error).message}`);
  process.exit(1);
}
