import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";

/** The label every vmdocker-built image carries: the hash of everything that went into it. */
export const INPUT_LABEL = "org.vmdocker.input";

export function hashParts(parts: (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const p of parts) {
    const b = typeof p === "string" ? Buffer.from(p) : p;
    h.update(String(b.length)).update(":").update(b);
  }
  return h.digest("hex");
}

/** sha256 of a (possibly large) file, remembered next to it keyed by size and mtime. */
export async function fileDigest(path: string): Promise<string> {
  const st = statSync(path);
  const memo = `${path}.sha256`;
  const stamp = `${st.size}:${st.mtimeMs}`;
  if (existsSync(memo)) {
    const [savedStamp, digest] = readFileSync(memo, "utf8").trim().split(" ");
    if (savedStamp === stamp && digest) return digest;
  }
  const h = createHash("sha256");
  await new Promise<void>((resolve, reject) => {
    createReadStream(path)
      .on("data", (c) => h.update(c))
      .on("end", resolve)
      .on("error", reject);
  });
  const digest = h.digest("hex");
  writeFileSync(memo, `${stamp} ${digest}\n`);
  return digest;
}
