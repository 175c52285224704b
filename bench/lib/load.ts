import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { LoadAnswer, LoadCommand } from "./loadgen.js";

const SCRIPT = fileURLToPath(new URL("./loadgen.js", import.meta.url));

/**
 * The harness's handle on the load generator process (bench/lib/loadgen.ts): one command at a
 * time, answered with a number (ms or msg/s). The child is ended by `close()`.
 */
export class LoadGenerator {
  private busy: Promise<unknown> = Promise.resolve();

  private constructor(private readonly child: ChildProcess) {}

  static start(): LoadGenerator {
    return new LoadGenerator(fork(SCRIPT, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] }));
  }

  /** Sends one command; resolves with its number, rejects with the generator's error. */
  ask(cmd: LoadCommand): Promise<number> {
    const answer = this.busy.then(
      () =>
        new Promise<number>((resolve, reject) => {
          const onExit = (code: number | null) =>
            reject(new Error(`the load generator exited (${code})`));
          this.child.once("exit", onExit);
          this.child.once("message", (a: LoadAnswer) => {
            this.child.off("exit", onExit);
            if (a.ok) resolve(a.value);
            else reject(new Error(a.error));
          });
          this.child.send(cmd);
        }),
    );
    this.busy = answer.catch(() => {});
    return answer;
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
  }
}
