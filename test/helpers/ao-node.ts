// A node with the container VM (the engine), run as its own process so tests can kill -9 it.
// env: BASE_DIR (mod/ and data/ live here), PORT (":0" picks one), REDIS_URL (optional),
// CHECKPOINT_INTERVAL (seconds; "0" turns periodic checkpoints off)
import { startNode } from "../../src/node/app.js";
import { loadConfig } from "../../src/node/config.js";
import { VmRegistry } from "../../src/vm/contract.js";
import { testClient } from "./engine.js";

const cfg = loadConfig(undefined, {
  VMDOCKER_PORT: process.env.PORT ?? ":0",
  VMDOCKER_REDIS_URL: process.env.REDIS_URL ?? "",
  VMDOCKER_CHECKPOINT_INTERVAL: process.env.CHECKPOINT_INTERVAL ?? "0",
  VMDOCKER_WARM_POOL: "0",
});
const running = await startNode(cfg, {
  baseDir: process.env.BASE_DIR!,
  vms: new VmRegistry(),
  log: (l) => console.log(l),
  docker: testClient(),
});
console.log(`URL ${running.url}`);
