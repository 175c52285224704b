import { join } from "node:path";
import type { Command } from "commander";
import { HymxClient } from "../../client/client.js";
import { clientSigner } from "../../client/keys.js";
import { VmdError } from "../../errors.js";
import { MAX_RESULTS_PAGE } from "../../node/read-params.js";
import type { VmmResult } from "../../protocol/hymx.js";
import type { EthereumSigner } from "../../protocol/signers.js";
import type { Tag } from "../../protocol/tags.js";
import type { CliContext } from "../context.js";
import { printJson, table } from "../output.js";

const collect = (v: string, prev: string[]) => [...prev, v];

/** A commander parser for a flag that takes a whole number from 1; anything else is err_bad_flag. */
function wholeFrom1(flag: string, max = Infinity) {
  return (v: string) => {
    if (!/^[1-9]\d{0,8}$/.test(v))
      throw new VmdError(
        "err_bad_flag",
        `${flag} ${v} is not a whole number from 1`,
        `pass ${flag} 20`,
      );
    if (Number(v) > max)
      throw new VmdError(
        "err_invalid_limit",
        `${flag} ${v} is more than ${max}`,
        `pass ${flag} ${max} or less`,
      );
    return Number(v);
  };
}

function parseTags(pairs: string[], flag = "--tag"): Tag[] {
  return pairs.map((p) => {
    const eq = p.indexOf("=");
    if (eq <= 0)
      throw new VmdError("err_bad_flag", `${flag} ${p} is not K=V`, `write ${flag} Name=value`);
    return { name: p.slice(0, eq), value: p.slice(eq + 1) };
  });
}

const SECRET_NAME = /key|token|secret|password|passwd/i;

/** `--secret` values become Encrypted-<K> tags; a plaintext tag that looks secret gets a warning. */
function secretsOf(o: { secret: string[]; tag: string[] }): Record<string, string> {
  for (const t of parseTags(o.tag))
    if (SECRET_NAME.test(t.name) && !t.name.startsWith("Encrypted-"))
      console.error(
        `warning: --tag ${t.name} goes in plaintext into a signed item anyone can read; use --secret ${t.name}=... to encrypt it for the node`,
      );
  return Object.fromEntries(parseTags(o.secret, "--secret").map((t) => [t.name, t.value]));
}

export interface Common {
  url: string;
  key?: string;
  json?: boolean;
}

export function withClientOptions(cmd: Command): Command {
  return cmd
    .option(
      "--url <url>",
      "the node (env VMDOCKER_URL)",
      process.env.VMDOCKER_URL ?? "http://127.0.0.1:8080",
    )
    .option(
      "--key <hex>",
      "Ethereum private key that signs (env VMDOCKER_KEY; default: a key kept in the state folder)",
    )
    .option("--json", "print JSON");
}

export function printResult(r: VmmResult, json?: boolean): void {
  if (json) return printJson(r);
  console.log(`nonce ${r.Nonce}${r.Error ? `  ERROR ${r.Error}` : ""}`);
  if (r.Data) console.log(r.Data);
  for (const m of r.Messages ?? []) console.log(`  → message #${m.Sequence} to ${m.Target}`);
}

/** A spawn's outcome: its id, or the id and why the spawn failed (exit code 1). */
export function printSpawned(pid: string, r: VmmResult, json?: boolean): void {
  if (json) printJson({ id: pid, result: r });
  else
    console.log(
      r.Error
        ? `${pid}\n${r.Error.startsWith("spawn failed") ? "" : "spawn failed: "}${r.Error}`
        : pid,
    );
  if (r.Error) process.exitCode = 1;
}

/**
 * The signer of every verb: `key` (a flag), else VMDOCKER_KEY, else a key made once and kept in
 * the state folder (`client-key.hex`; making it is said on stderr).
 */
export function cliSigner(ctx: () => CliContext, key: string | undefined): EthereumSigner {
  const { signer, note } = clientSigner(key, join(ctx().paths.root, "client-key.hex"));
  if (note) console.error(note);
  return signer;
}

/** The client for a command's --url and --key (a key kept in the state folder by default). */
export function clientFor(ctx: () => CliContext, o: Common): HymxClient {
  return new HymxClient({ url: o.url, signer: cliSigner(ctx, o.key) });
}

export function registerClient(program: Command, ctx: () => CliContext): void {
  const client = (o: Common) => clientFor(ctx, o);

  withClientOptions(program.command("spawn"))
    .description("spawn a process of a module on a node")
    .requiredOption("--module <id>", "the module id")
    .option("--scheduler <address>", "the node that runs it (default: the node at --url)")
    .option("--tag <K=V>", "a spawn tag; repeatable", collect, [])
    .option(
      "--secret <K=V>",
      "a spawn tag encrypted for the node (sent as Encrypted-K); repeatable",
      collect,
      [],
    )
    .option("--data <text>", "the spawn data")
    .option("--wait", "wait for the spawn result")
    .addHelpText(
      "after",
      "\nExample:\n  vmdocker spawn --module <module-id> --tag Name=demo --secret Container-Env-API_KEY=sk-... --wait",
    )
    .action(
      async (
        o: Common & {
          module: string;
          scheduler?: string;
          tag: string[];
          secret: string[];
          data?: string;
          wait?: boolean;
        },
      ) => {
        const c = client(o);
        const pid = await c.spawn({
          module: o.module,
          scheduler: o.scheduler,
          tags: parseTags(o.tag),
          secrets: secretsOf(o),
          data: o.data,
        });
        if (!o.wait) return o.json ? printJson({ id: pid }) : console.log(pid);
        printSpawned(pid, await c.waitResult(pid, pid), o.json);
      },
    );

  withClientOptions(program.command("send <pid>"))
    .description("send a message to a process")
    .option("--action <action>", "the Action tag")
    .option("--tag <K=V>", "a message tag; repeatable", collect, [])
    .option(
      "--secret <K=V>",
      "a message tag encrypted for the node (sent as Encrypted-K); repeatable",
      collect,
      [],
    )
    .option("--data <text>", "the message data", "")
    .option("--wait", "wait for the result and print it")
    .addHelpText("after", "\nExample:\n  vmdocker send <pid> --action Echo --data hello --wait")
    .action(
      async (
        pid: string,
        o: Common & {
          action?: string;
          tag: string[];
          secret: string[];
          data: string;
          wait?: boolean;
        },
      ) => {
        const c = client(o);
        const message = {
          pid,
          action: o.action,
          tags: parseTags(o.tag),
          secrets: secretsOf(o),
          data: o.data,
        };
        if (!o.wait) {
          const id = await c.message(message);
          return o.json ? printJson({ id }) : console.log(id);
        }
        const { result: r } = await c.messageAndWait(message);
        printResult(r, o.json);
        if (r.Error) process.exitCode = 1;
      },
    );

  withClientOptions(program.command("result <pid> <msgid>"))
    .description("read one result")
    .option("--wait", "wait until it exists")
    .addHelpText("after", "\nExample:\n  vmdocker result <pid> <message-id> --wait")
    .action(async (pid: string, msgid: string, o: Common & { wait?: boolean }) => {
      const c = client(o);
      const r = o.wait ? await c.waitResult(pid, msgid) : await c.result(pid, msgid);
      if (!r) {
        if (o.json) printJson(null);
        else console.log("no result yet (use --wait)");
        process.exitCode = 1;
        return;
      }
      printResult(r, o.json);
    });

  withClientOptions(program.command("results <pid>"))
    .description("the latest results of a process, oldest first")
    .option("--limit <n>", "how many, 1 to 1000", wholeFrom1("--limit", MAX_RESULTS_PAGE), 5)
    .addHelpText("after", "\nExample:\n  vmdocker results <pid> --limit 20 --json")
    .action(async (pid: string, o: Common & { limit: number }) => {
      const rs = await client(o).results(pid, o.limit);
      if (o.json) return printJson(rs);
      console.log(
        table(
          ["NONCE", "MESSAGE", "DATA", "ERROR"],
          rs.map((r) => [r.Nonce, r["Item-Id"], r.Data.slice(0, 60), r.Error]),
        ),
      );
    });
}
