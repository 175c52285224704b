// A node with the echo VM mounted, run as its own process so tests can kill -9 it.
// env: BASE_DIR (mod/ and data/ live here), PORT (":0" picks one), REDIS_URL (optional)
import { startNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { ECHO_FORMAT, echoFactory } from "./echo-vm.js";

const vms = new VmRegistry();
vms.mount(ECHO_FORMAT, echoFactory);
const cfg = loadConfig(undefined, {
  VMDOCKER_PORT: process.env.PORT ?? ":0",
  VMDOCKER_REDIS_URL: process.env.REDIS_URL ?? "",
});
const running = await startNode(cfg, {
  baseDir: process.env.BASE_DIR!,
  vms,
  log: (l) => console.log(l),
});
console.log(`URL ${running.url}`);
