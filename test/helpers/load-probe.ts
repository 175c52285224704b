// Loads a module's image in a fresh process and reports its memory, so a test can bound the loader's RSS.
import { ensureModuleImage } from "../../src/module/load.js";
import { testClient } from "./engine.js";

const file = process.argv[2]!;
const client = testClient();
await client.ping();
const baseline = process.memoryUsage().rss;
const result = await ensureModuleImage(client, file);
const peak = process.resourceUsage().maxRSS * 1024;
console.log(JSON.stringify({ baseline, peak, how: result.how, seconds: result.seconds }));
