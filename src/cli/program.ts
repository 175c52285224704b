import { Command } from "commander";
import { cliContext } from "./context.js";
import { registerHost } from "./commands/host.js";
import { registerImages } from "./commands/images.js";
import { registerModule } from "./commands/module.js";
import { registerNode } from "./commands/node.js";
import { registerClient } from "./commands/client.js";
import { registerUp } from "./commands/up.js";
import { registerHub } from "./commands/hub.js";
import { registerOpenclaw } from "./commands/openclaw.js";
import { registerAo } from "./commands/ao.js";

/**
 * The `vmdocker` command tree (commander), every verb registered; `vmdocker.ts` parses argv with
 * it and a test compares it with the README's CLI tables.
 */
export function buildProgram(): Command {
  const program = new Command("vmdocker")
    .description(
      "Run computation in isolated instances and talk to it as a HyMatrix/AO node, agents or bots.",
    )
    .option(
      "--state-dir <dir>",
      "where vmdocker keeps its engine, caches and data (env VMDOCKER_HOME, default ~/.vmdocker)",
    )
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .addHelpText(
      "after",
      "\nExample:\n  sudo vmdocker up              # set up the host, build images\n  vmdocker host doctor --json",
    );

  const ctx = () => cliContext(program.opts<{ stateDir?: string }>().stateDir);
  registerUp(program, ctx);
  registerHost(program, ctx);
  registerImages(program, ctx);
  registerModule(program, ctx);
  registerNode(program, ctx);
  registerClient(program, ctx);
  registerHub(program, ctx);
  registerOpenclaw(program, ctx);
  registerAo(program, ctx);
  return program;
}
