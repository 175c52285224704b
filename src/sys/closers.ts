import { errorMessage } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * What a started service must undo, as one list: `add` a step as each part starts; `close()` runs
 * every step, the last added first, and a step that fails is logged and the rest still run.
 * Closing twice runs nothing the second time.
 */
export class Closers {
  private readonly steps: { what: string; close: () => unknown }[] = [];
  private closed?: Promise<void>;

  constructor(private readonly log: Logger) {}

  /** Registers a shutdown step; `what` names it in the log when it fails. */
  add(what: string, close: () => unknown): void {
    this.steps.push({ what, close });
  }

  /** Runs every step, last added first; resolves when all have run (never rejects). */
  close(): Promise<void> {
    this.closed ??= (async () => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step.close();
        } catch (err) {
          this.log.error(`closing ${step.what} failed`, { error: errorMessage(err) });
        }
      }
    })();
    return this.closed;
  }
}
