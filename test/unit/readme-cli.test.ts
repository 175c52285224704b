import assert from "node:assert/strict";
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
