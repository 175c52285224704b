import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { vmdocker } from "../helpers/cli.js";
import { freePort } from "../helpers/ports.js";

const BIN = fileURLToPath(new URL("../../src/cli/vmdocker.js", import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), "vmd-clinode-"));
const KEY = "0x64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";
let child: ChildProcess;
let url: string;
let token: string;

before(async () => {
  const port = await freePort();
  writeFileSync(join(cwd, "config.yaml"), `port: ":${port}"\nprvKey: ${KEY}\nnodeName: cli-test\n`);
  child = spawn(process.execPath, [BIN, "node", "-c", "config.yaml"], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("server is running")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`node exited ${code}: ${out}`)));
  });
  assert.match(
    out,
    /server is running wallet=0x972AeD684D6f817e1b58AF70933dF1b4a75bfA51 port=:\d+/,
  );
  url = `http://127.0.0.1:${port}`;
  token = ((await (await fetch(`${url}/info`)).json()) as { Token: string }).Token;
});
after(() => child?.kill("SIGTERM"));

test("vmdocker send --wait talks to the node's token and prints the result", () => {
  const r = vmdocker([
    "send",
    token,
    "--action",
    "Balance",
    "--tag",
    "Recipient=0x972AeD684D6f817e1b58AF70933dF1b4a75bfA51",
    "--wait",
    "--json",
    "--url",
    url,
    "--key",
    KEY,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { Data: string; Nonce: string; Error: string };
  assert.equal(res.Data, "20000000000000000000");
  assert.equal(res.Error, "");
  const human = vmdocker(["send", token, "--action", "Nope", "--wait", "--url", url, "--key", KEY]);
  assert.equal(human.code, 1, "a result with an error exits 1");
  assert.match(human.stdout, /ERROR err_unknown_action: Nope/);
});

test("vmdocker spawn --wait, result and results", () => {
  const tokenModule = readdirSync(join(cwd, "mod")).map((f) => f.slice(4, -5));
  const spawned = tokenModule
    .map((m) => vmdocker(["spawn", "--module", m, "--wait", "--json", "--url", url, "--key", KEY]))
    .find((r) => r.code === 0);
  assert.ok(spawned, "a core module spawns");
  const { id } = JSON.parse(spawned.stdout) as { id: string };
  const info = vmdocker(["send", id, "--action", "Info", "--json", "--url", url, "--key", KEY]);
  const msg = (JSON.parse(info.stdout) as { id: string }).id;
  const waited = vmdocker(["result", id, msg, "--wait", "--json", "--url", url]);
  assert.equal(waited.code, 0, waited.stderr);
  const results = JSON.parse(vmdocker(["results", id, "--json", "--url", url]).stdout) as {
    Nonce: string;
  }[];
  assert.deepEqual(
    results.map((r) => r.Nonce),
    ["0", "1"],
  );
  const t = Date.now();
  const unknown = vmdocker(["result", id, "U".repeat(43), "--wait", "--url", url]);
  assert.ok(Date.now() - t < 15_000, `a message the node does not have is not waited for`);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /has no message U{43} .*\(fix: send the message first/);
  for (const bad of ["0", "abc", "-3"]) {
    const r = vmdocker(["results", id, "--limit", bad, "--url", url]);
    assert.equal(r.code, 1, `--limit ${bad}`);
    assert.match(
      r.stderr.trim(),
      new RegExp(
        `^vmdocker: --limit ${bad} is not a whole number from 1 \\(fix: pass --limit 20\\)$`,
      ),
    );
  }
  const over = vmdocker(["results", id, "--limit", "1001", "--url", url]);
  assert.equal(over.code, 1);
  assert.equal(
    over.stderr.trim(),
    "vmdocker: --limit 1001 is more than 1000 (fix: pass --limit 1000 or less)",
  );
  assert.equal(vmdocker(["results", id, "--limit", "1000", "--url", url]).code, 0);
});

test("a node whose port is taken fails at once with the fix and leaves no wallet (nor anything else) behind", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-clinode-busy-"));
  writeFileSync(join(dir, "config.yaml"), `port: ":${new URL(url).port}"\n`);
  const r = spawnSync(process.execPath, [BIN, "node", "-c", "config.yaml"], {
    cwd: dir,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /port 127\.0\.0\.1:\d+ is in use .*\(fix: stop what uses it/);
  assert.deepEqual(readdirSync(dir), ["config.yaml"], "no data folder, no node-key.hex");
});

test("a node whose adminPort is its port is refused before anything is written", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-clinode-sameport-"));
  const port = await freePort();
  for (const admin of [`:${port}`, `0.0.0.0:${port}`]) {
    writeFileSync(join(dir, "config.yaml"), `port: ":${port}"\nadminPort: "${admin}"\n`);
    const r = spawnSync(process.execPath, [BIN, "node", "-c", "config.yaml"], {
      cwd: dir,
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr.trim(),
      new RegExp(
        `^vmdocker: config\\.yaml: adminPort ${admin} is the same port as port :${port} \\(fix: give adminPort a port of its own`,
      ),
    );
    assert.deepEqual(
      readdirSync(dir),
      ["config.yaml"],
      "no wallet, node.db, admin-token, mod/, ckp/",
    );
  }
});

test("client errors are one line: node down, bad tag, bad config", () => {
  const down = vmdocker(["results", "x", "--url", "http://127.0.0.1:9"]);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr.trim(),
    /^vmdocker: no node answers at http:\/\/127.0.0.1:9 .*\(fix: start one with `vmdocker node`, or pass --url\)$/,
  );
  const badTag = vmdocker(["send", token, "--tag", "novalue", "--url", url, "--key", KEY]);
  assert.match(badTag.stderr, /--tag novalue is not K=V/);
  writeFileSync(join(cwd, "bad.yaml"), "port: 8080\nfrobnicate: true\n");
  const bad = vmdocker(["node", "-c", join(cwd, "bad.yaml")]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr.trim(), /^vmdocker: .*bad\.yaml: (port|frobnicate)/);
});

test("--secret encrypts for the node; a plaintext tag that looks secret gets a warning", () => {
  const common = ["--action", "Balance", "--wait", "--json", "--url", url, "--key", KEY];
  const plain = vmdocker(["send", token, "--tag", "Api-Key=sk-plain", ...common]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(
    plain.stderr,
    /warning: --tag Api-Key goes in plaintext into a signed item.*use --secret Api-Key=/,
  );
  const sealed = vmdocker(["send", token, "--secret", "Api-Key=sk-sealed", ...common]);
  assert.equal(sealed.code, 0, sealed.stderr);
  assert.doesNotMatch(sealed.stderr, /warning/);
  const id = (JSON.parse(sealed.stdout) as { "Item-Id": string })["Item-Id"];
  const item = vmdocker(["result", token, id, "--json", "--url", url]);
  assert.equal(item.code, 0, item.stderr);
  const bad = vmdocker(["send", token, "--secret", "novalue", ...common]);
  assert.match(bad.stderr, /--secret novalue is not K=V/);
});
