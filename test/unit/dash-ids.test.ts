import assert from "node:assert/strict";
import { test } from "node:test";
import { Command } from "commander";
import { acceptDashIds } from "../../src/cli/dash-ids.js";

const ID = `-iGHvsTJsiF6X_on-ITVyA86-OArMKOMEQssQ68sbNE`;
const OTHER = `_${ID.slice(1)}`;

/** A program shaped like `vmdocker result <pid> <message> [--module id] --json`. */
function parse(args: string[]) {
  const seen: { args?: string[]; opts?: Record<string, unknown>; root?: unknown } = {};
  const program = new Command("x")
    .option("--state-dir <dir>")
    .configureOutput({ writeErr: () => {} })
    .exitOverride();
  program
    .command("result <pid> <message>")
    .option("--module <id>")
    .option("--json")
    .action((pid: string, message: string, o: Record<string, unknown>) => {
      seen.args = [pid, message];
      seen.opts = o;
      seen.root = program.opts().stateDir;
    });
  program.parse(acceptDashIds(program, ["node", "x", ...args]));
  return seen;
}

test("ids that begin with '-' are taken as ids in arguments and option values, in any order", () => {
  assert.deepEqual(parse(["result", ID, OTHER, "--json"]).args, [ID, OTHER]);
  assert.deepEqual(parse(["result", OTHER, ID]).args, [OTHER, ID]);
  const r = parse(["--state-dir", ID, "result", "--module", ID, ID, OTHER]);
  assert.deepEqual([r.args, r.opts?.module, r.root], [[ID, OTHER], ID, ID]);
  assert.deepEqual(parse(["result", "--", ID, OTHER]).args, [ID, OTHER]);
});

test("other unknown options are still refused", () => {
  assert.throws(() => parse(["result", ID, OTHER, "--nope"]), /unknown option '--nope'/);
  assert.throws(() => parse(["result", "-x", OTHER]), /unknown option '-x'/);
});
