import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("./echo-node.js", import.meta.url));

/**
 * A node with the echo VM in its own process (so a test can kill -9 it or read its memory), on
 * `port` (":0" picks one), with `base` as its folder and optionally a Redis store. Resolves once it
 * serves, with its URL and wallet address; rejects if it exits first.
 */
export function startEchoNode(
  base: string,
  port = ":0",
  redis = "",
): Promise<{ child: ChildProcess; url: string; address: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, BASE_DIR: base, PORT: port, REDIS_URL: redis },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const url = /URL (\S+)/.exec(out)?.[1];
      const address = /wallet=(\S+)/.exec(out)?.[1];
      if (url && address) resolve({ child, url, address });
    });
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    child.on("exit", (code) => reject(new Error(`node exited ${code}: ${out}`)));
  });
}
