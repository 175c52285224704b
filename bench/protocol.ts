// Why vmdocker signs and verifies ANS-104 items with its own small code (node:crypto + @noble)
// instead of arbundles: the same operations, interleaved in one run, ours vs arbundles.
// Run: npm run bench:protocol  (writes bench/results/protocol-<date>.{md,json})
import { generateKeyPairSync, type JsonWebKey } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import * as arbundles from "@dha-team/arbundles";
import { DataItem } from "../src/protocol/data-item.js";
import { ArweaveSigner, EthereumSigner } from "../src/protocol/signers.js";

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const PER_ROUND = Number(process.env.PER_ROUND ?? 50);
const KEY = "64dd2342616f385f3e8157cf7246cf394217e13e8f91b7d208e9f8b60e25ed1b";
const jwk = generateKeyPairSync("rsa", {
  modulusLength: 4096,
  publicExponent: 65537,
}).privateKey.export({ format: "jwk" }) as JsonWebKey;
const tags = [
  { name: "Data-Protocol", value: "hymx" },
  { name: "Variant", value: "v0.1.0" },
  { name: "Type", value: "Message" },
  { name: "Action", value: "Echo" },
];
const data = "x".repeat(1024);

type Op = () => Promise<unknown> | unknown;
async function perOp(op: Op): Promise<number> {
  const t = process.hrtime.bigint();
  for (let i = 0; i < PER_ROUND; i++) await op();
  return Number(process.hrtime.bigint() - t) / 1e3 / PER_ROUND; // µs per op
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function compare(name: string, ours: Op, theirs: Op) {
  const a: number[] = [];
  const b: number[] = [];
  await ours();
  await theirs();
  for (let r = 0; r < ROUNDS; r++) {
    a.push(await perOp(ours));
    b.push(await perOp(theirs));
  }
  return {
    name,
    oursUs: median(a),
    arbundlesUs: median(b),
    ratio: median(a) / median(b),
    oursMin: Math.min(...a),
    oursMax: Math.max(...a),
  };
}

const ethOurs = new EthereumSigner(KEY);
const ethTheirs = new arbundles.EthereumSigner(KEY);
const arOurs = new ArweaveSigner(jwk);
const arTheirs = new arbundles.ArweaveSigner(jwk as never);
const ethRaw = DataItem.sign({ data, tags }, ethOurs).encode();
const arRaw = DataItem.sign({ data, tags }, arOurs).encode();

const rows = [
  await compare(
    "ethereum sign 1 KiB item",
    () => DataItem.sign({ data, tags }, ethOurs),
    async () => {
      const it = arbundles.createData(data, ethTheirs, { tags });
      await it.sign(ethTheirs);
    },
  ),
  await compare(
    "ethereum decode + verify",
    () => DataItem.decode(ethRaw).verify(),
    () => arbundles.DataItem.verify(ethRaw),
  ),
  await compare(
    "arweave sign 1 KiB item",
    () => DataItem.sign({ data, tags }, arOurs),
    async () => {
      const it = arbundles.createData(data, arTheirs, { tags });
      await it.sign(arTheirs);
    },
  ),
  await compare(
    "arweave decode + verify",
    () => DataItem.decode(arRaw).verify(),
    () => arbundles.DataItem.verify(arRaw),
  ),
];

const machine = `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`;
const md = [
  `# Protocol benchmark (${new Date().toISOString()})`,
  "",
  `Machine: ${machine}. ${ROUNDS} interleaved rounds of ${PER_ROUND} operations; medians per operation.`,
  "",
  "| operation | ours (µs) | arbundles (µs) | ours / arbundles | ours min–max (µs) |",
  "|---|---:|---:|---:|---:|",
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.oursUs.toFixed(0)} | ${r.arbundlesUs.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.oursMin.toFixed(0)}–${r.oursMax.toFixed(0)} |`,
  ),
  "",
].join("\n");
const dir = join(process.cwd(), "bench", "results");
mkdirSync(dir, { recursive: true });
const stamp = new Date().toISOString().slice(0, 10);
writeFileSync(join(dir, `protocol-${stamp}.md`), md);
writeFileSync(
  join(dir, `protocol-${stamp}.json`),
  JSON.stringify({ machine, rounds: ROUNDS, perRound: PER_ROUND, rows }, null, 2),
);
console.log(md);
