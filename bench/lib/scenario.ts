import type { BenchContext } from "./context.js";
import type { Row } from "./stats.js";

export interface Scenario {
  name: string;
  describe: string;
  /** Returns why the scenario cannot run here, or undefined. */
  unavailable?(ctx: BenchContext): Promise<string | undefined>;
  run(ctx: BenchContext, emit: (row: Row) => void): Promise<void>;
}
