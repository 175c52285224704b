import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { ANSI, AoSession, outputOf } from "../../client/ao-session.js";
import { openDepth } from "../../client/lua-input.js";
import { VmdError } from "../../errors.js";
import type { VmmResult } from "../../protocol/hymx.js";
import type { CliContext } from "../context.js";
import { clientFor, withClientOptions, type Common } from "./client.js";

const RED = "\x1b[31m";
const RESET = "\x1b[0m";

/** Prints an Eval's answer as aos does: its printed text, or the error in red. */
function show(r: VmmResult, color: boolean): string | undefined {
  if (r.Error) {
    const text = color ? `${RED}${r.Error}${RESET}` : r.Error.replace(ANSI, "");
    console.log(text);
    return undefined;
  }
  const out = outputOf(r);
  if (out.text) console.log(color ? out.text : out.text.replace(ANSI, ""));
  return out.prompt;
}

export function registerAo(program: Command, ctx: () => CliContext): void {
  const ao = program.command("ao").description("AO processes: a terminal client (like aos)");
  withClientOptions(ao.command("connect <name-or-pid>"))
    .description(
      "connect to your AO process called NAME (spawned on first use) or to the process PID, and evaluate Lua in it",
    )
    .option(
      "--module <id>",
      "the module a new process spawns from (default: the node's web.vmdocker-lua-ao module)",
    )
    .option(
      "--scheduler <address>",
      "the node that runs a new process (default: the node at --url)",
    )
    .option("--poll-ms <ms>", "how often new results are looked for", "1000")
    .addHelpText(
      "after",
      `
Each line is Lua run in the process (its value is printed); a line that opens a block (function,
if, do, {) continues until the block closes, or until a closing line leaves it with a Lua syntax
error (shown, and the block is dropped). Commands: .load FILE (run a Lua file), .exit (also
inside an unfinished block).
Messages that reach the Inbox (and anything else the process prints) show up as they arrive.

Example:
  vmdocker ao connect demo
  demo@vmdocker-ao-0.1.0[Inbox:0]> 1 + 1
  2
  demo@vmdocker-ao-0.1.0[Inbox:0]> Handlers.add("ping", "Ping", function(m) m.reply({Data = "pong"}) end)
  demo@vmdocker-ao-0.1.0[Inbox:0]> Send({Target = ao.id, Action = "Ping"})`,
    )
    .action(
      async (
        target: string,
        o: Common & { module?: string; scheduler?: string; pollMs: string },
      ) => {
        const client = clientFor(ctx, o);
        const session = await AoSession.open(client, target, {
          module: o.module,
          scheduler: o.scheduler,
        });
        const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
        const color = process.stdout.isTTY === true;
        console.log(
          `${session.spawned ? "spawned" : "connected to"} ${session.name === session.pid ? "" : `${session.name} `}${session.pid}`,
        );
        let prompt = `${session.name}> `;
        const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty });
        const setPrompt = (p: string | undefined) => {
          if (p) prompt = color ? p : p.replace(ANSI, "");
          rl.setPrompt(prompt);
        };
        setPrompt(undefined);
        const pollMs = Number(o.pollMs);
        if (!Number.isFinite(pollMs) || pollMs < 100)
          throw new VmdError(
            "err_bad_flag",
            `--poll-ms ${o.pollMs} is not a number of milliseconds >= 100`,
            "pass --poll-ms 1000",
          );
        // New results of the process (Inbox arrivals, a resumed Receive's prints), as aos's live view.
        let following = true;
        const follow = async () => {
          while (following) {
            await new Promise((r) => setTimeout(r, pollMs));
            if (!following) break;
            const news = await session.poll().catch(() => []);
            for (const r of news) {
              const out = outputOf(r);
              if (!out.print || !out.text) continue;
              process.stdout.write(`\r${color ? out.text : out.text.replace(ANSI, "")}\n`);
              setPrompt(out.prompt);
              if (tty) rl.prompt(true);
            }
          }
        };
        const follower = follow();
        let pending = "";
        const lines = rl[Symbol.asyncIterator]();
        if (tty) rl.prompt();
        for (;;) {
          const next = await lines.next();
          if (next.done) break;
          const line = next.value;
          const text = pending ? `${pending}\n${line}` : line;
          const trimmed = text.trim();
          if (line.trim() === ".exit") break;
          let code = text;
          if (!pending && trimmed.startsWith(".load ")) {
            const file = trimmed.slice(6).trim();
            try {
              code = readFileSync(file, "utf8");
            } catch (err) {
              console.log(`cannot read ${file}: ${(err as Error).message}`);
              if (tty) rl.prompt();
              continue;
            }
          } else if (openDepth(text) > 0) {
            // A line that closed something yet left the block open may be a block that can never
            // close (`function f(` … `end`): Lua decides, and an error not at <eof> ends the block.
            const error =
              pending && openDepth(text) < openDepth(pending)
                ? await session.syntaxError(text).catch(() => undefined)
                : undefined;
            if (error && !error.includes("<eof>")) {
              pending = "";
              console.log(color ? `${RED}${error}${RESET}` : error);
              setPrompt(undefined);
              if (tty) rl.prompt();
              continue;
            }
            pending = text;
            if (tty) {
              rl.setPrompt("...> ");
              rl.prompt();
            }
            continue;
          }
          pending = "";
          if (code.trim()) {
            try {
              setPrompt(show(await session.eval(code), color));
            } catch (err) {
              console.log(err instanceof Error ? err.message : String(err));
              setPrompt(undefined);
            }
          } else setPrompt(undefined);
          if (tty) rl.prompt();
        }
        following = false;
        rl.close();
        await follower;
      },
    );
}
