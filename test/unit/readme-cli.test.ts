import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { buildProgram } from "../../src/cli/program.js";

const root = fileURLToPath(new URL("../../..", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");

interface Verb {
  path: string[];
  flags: { long?: string; short?: string }[];
}

/** Every leaf command of the tree with its own and its parents' options. */
function verbs(cmd: Command, path: string[] = [], inherited: Verb["flags"] = []): Verb[] {
  const flags = [...inherited, ...cmd.options.map((o) => ({ long: o.long, short: o.short }))];
  if (cmd.commands.length === 0) return [{ path, flags }];
  return cmd.commands.flatMap((c) => verbs(c, [...path, c.name()], flags));
}

/** The README's CLI table rows for `vmdocker`, each as the command cell's segments ("a / b"). */
function rows(): string[] {
  return readme
    .split("\n")
    .filter((l) => l.startsWith("| `vmdocker "))
    .flatMap((l) => l.slice(2).split(/ +\| /)[0]!.split("` / `"));
}

/** The verbs a README row names: `vmdocker a b` or `vmdocker a x\|b\|y ...`. */
function named(row: string, all: Verb[]): Verb[] {
  const words = (/vmdocker ([a-z-]+(?: [a-z\\|-]+)?)/.exec(row)?.[1] ?? "")
    .replace(/\\\|/g, "|")
    .split(" ");
  return all.filter(
    (v) =>
      v.path[0] === words[0] &&
      (v.path.length === 1 || (words[1] ?? "").split("|").includes(v.path[1]!)),
  );
}

test("the README's CLI section documents every vmdocker verb and flag, and names none that is gone", () => {
  const all = verbs(buildProgram());
  const table = rows();
  const undocumented: string[] = [];
  for (const v of all) {
    const own = table.filter((r) => named(r, all).includes(v));
    if (own.length === 0) undocumented.push(`vmdocker ${v.path.join(" ")} (no row)`);
    for (const f of v.flags) {
      const documented =
        (f.long !== undefined && readme.includes(f.long)) ||
        (f.short !== undefined && own.some((r) => r.includes(`${f.short} `)));
      if (!documented && f.long !== "--help")
        undocumented.push(`vmdocker ${v.path.join(" ")} ${f.long ?? f.short}`);
    }
  }
  assert.deepEqual(undocumented, [], "add these to the README");

  const unknown: string[] = [];
  for (const r of table) {
    const verbsOfRow = named(r, all);
    if (verbsOfRow.length === 0) unknown.push(r);
    for (const f of r.match(/--[a-z][a-z0-9-]*/g) ?? [])
      if (!verbsOfRow.some((v) => v.flags.some((x) => x.long === f))) unknown.push(`${r}: ${f}`);
  }
  assert.deepEqual(unknown, [], "the README names verbs or flags the CLI does not have");
});

/** `cli --help`'s verbs, and each verb's own flags from `cli <verb> --help`. */
function helpVerbs(cli: string): { verb: string; flags: { short?: string; long: string }[] }[] {
  const bin = join(root, "dist", "src", "cli", `${cli}.js`);
  const help = (args: string[]) =>
    execFileSync(process.execPath, [bin, ...args, "--help"], { encoding: "utf8" });
  const commands = help([]).split("Commands:\n")[1] ?? "";
  const verbs = [...commands.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
  return verbs
    .filter((v) => v !== "help")
    .map((verb) => ({
      verb,
      flags: [...help([verb]).matchAll(/^ {2}(?:(-\w), )?(--[a-z][a-z0-9-]*)/gm)]
        .map((m) => ({ short: m[1], long: m[2]! }))
        .filter((f) => f.long !== "--help"),
    }));
}

/** The README table rows (first cells, split at " / ") of the section under `heading`. */
function sectionRows(heading: string): string[] {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, heading);
  const end = readme.indexOf("\n## ", start + heading.length + 2);
  return readme
    .slice(start, end < 0 ? undefined : end)
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .flatMap((l) =>
      l
        .slice(2)
        .split(/ +\| /)[0]!
        .split(/` \/ `|`\s*\/\s*`/),
    );
}

for (const [cli, heading] of [
  ["docker-agent", "## Agents: the hub and `docker-agent`"],
  ["vm-ctl", "### `vm-ctl` verbs"],
] as const) {
  test(`the README's ${cli} rows name every flag of their verb`, () => {
    const rowsOf = sectionRows(heading);
    const missing: string[] = [];
    for (const { verb, flags } of helpVerbs(cli)) {
      const own = rowsOf.filter(
        (r) => r.replace(/^`/, "").startsWith(`${verb} `) || r === `\`${verb}`,
      );
      if (own.length === 0) continue;
      // A row with "[flags]" stands for a family documented elsewhere (vm-setup's options).
      const generic = own.some((r) => r.includes("[flags]"));
      for (const f of flags) {
        const inRow = own.some(
          (r) => r.includes(f.long) || (f.short !== undefined && r.includes(`${f.short} `)),
        );
        if (!inRow && !(generic && readme.includes(f.long)))
          missing.push(`${cli} ${verb} ${f.long}`);
      }
    }
    assert.deepEqual(missing, [], "add these flags to their rows");
  });
}
