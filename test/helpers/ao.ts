import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { gunzipSync } from "node:zlib";
import { buildModule } from "../../src/module/build.js";
import { silentProgress } from "../../src/progress.js";
import type { EthereumSigner } from "../../src/protocol/signers.js";
import type { DockerClient } from "../../src/runtime/docker/client.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { HymxClient } from "../../src/client/client.js";
import type { VmmResult } from "../../src/protocol/hymx.js";
import type { Tag } from "../../src/protocol/tags.js";

/** Text without the terminal colours aos-style output carries. */
export const plain = (text: unknown) => stripVTControlCharacters(String(text ?? ""));

/** AO's base tags for a spawn (what aos and aoconnect send), plus `extra`. */
export function aoSpawnTags(moduleId: string, scheduler: string, extra: Tag[] = []): Tag[] {
  return [
    { name: "Data-Protocol", value: "ao" },
    { name: "Variant", value: "ao.TN.1" },
    { name: "Type", value: "Process" },
    { name: "Module", value: moduleId },
    { name: "Scheduler", value: scheduler },
    ...extra,
  ];
}

/** Sends `Eval` with Lua code to a process and waits for the result. */
export async function evalLua(
  client: HymxClient,
  pid: string,
  code: string,
  timeoutMs = 60_000,
): Promise<VmmResult> {
  const id = await client.message({ pid, action: "Eval", data: code });
  return client.waitResult(pid, id, timeoutMs);
}

/** Polls an Eval until its printed text satisfies `ok` (messages between processes take a moment). */
export async function evalUntil(
  client: HymxClient,
  pid: string,
  code: string,
  ok: (text: string) => boolean,
  timeoutMs = 60_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await evalLua(client, pid, code);
    const text = plain(r.Data);
    if (ok(text)) return text;
    if (Date.now() > deadline) throw new Error(`${code} still prints ${JSON.stringify(text)}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The sha256 of an AO process's memory, read from the node's `/state` (the runtime's memory snapshot). */
export async function memoryHash(url: string, pid: string): Promise<string> {
  const res = await fetch(`${url}/state/${pid}`);
  if (!res.ok) throw new Error(`/state/${pid}: ${res.status} ${await res.text()}`);
  const state = JSON.parse(await res.text()) as { memory?: string; sha256?: string };
  const memory = gunzipSync(Buffer.from(state.memory ?? "", "base64"));
  const sha = createHash("sha256").update(memory).digest("hex");
  if (sha !== state.sha256)
    throw new Error("the checkpoint's memory does not match its own sha256");
  return sha;
}

/**
 * The AO module of the current vmdocker/runtime-ao image, signed by `signer`: built once per
 * image and key (docker save of the image takes most of a minute) and shared by the test files.
 * Answers the module's id and file.
 */
export async function aoModule(
  docker: DockerClient,
  signer: EthereumSigner,
): Promise<{ id: string; file: string }> {
  const image = await docker.inspectImage(IMAGES["runtime-ao"]);
  if (!image) throw new Error(`${IMAGES["runtime-ao"]} is not built (vmdocker images build)`);
  const dir = join(
    tmpdir(),
    `vmd-ao-module-${image.Id.slice(7, 19)}-${signer.address.slice(2, 10)}`,
  );
  const existing = existsSync(dir)
    ? readdirSync(dir).find((f) => /^mod-.*\.json$/.test(f))
    : undefined;
  if (existing) return { id: existing.slice(4, -5), file: join(dir, existing) };
  const staging = mkdtempSync(`${dir}.build-`);
  const built = await buildModule(
    docker,
    {
      source: { mode: "pull", image: IMAGES["runtime-ao"] },
      signer,
      outDir: staging,
      startCommand: RUNTIME_START_COMMAND,
      ao: true,
    },
    silentProgress,
  );
  try {
    renameSync(staging, dir);
  } catch {
    // another test file built it at the same time: use theirs
    rmSync(staging, { recursive: true, force: true });
  }
  return { id: built.id, file: join(dir, basename(built.file)) };
}

/** An Ethereum signer in aoconnect's signer protocol (create → deep hash → raw signature). */
export function aoconnectSigner(signer: EthereumSigner) {
  return async (create: (o: { type: number; publicKey: Buffer }) => Promise<Uint8Array>) => {
    const deepHash = await create({ type: 3, publicKey: signer.owner });
    return { signature: signer.sign(deepHash), address: signer.address };
  };
}
