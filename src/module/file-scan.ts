import { createReadStream } from "node:fs";
import { VmdError } from "../errors.js";

/** What a module file holds besides its data: the item JSON with `data` emptied, and the data's size. */
export interface ScannedModule {
  header: Record<string, unknown>;
  /** Decoded payload length in bytes. */
  dataBytes: number;
}

type Sink = (bytes: Buffer) => void | Promise<void>;

/**
 * Reads a `mod-<id>.json` without ever holding its `data` in memory: the top-level "data" string
 * is base64url-decoded as it streams by and handed to `sink` chunk by chunk (awaited, so a slow
 * consumer slows the read). Everything else is parsed as JSON. JSON escapes in data are honoured.
 */
export async function scanModuleFile(
  path: string,
  sink?: Sink,
  opts: { stopAtData?: boolean } = {},
): Promise<ScannedModule> {
  // 64 KiB pieces keep every string and buffer in V8's young generation, so memory stays flat.
  const stream = createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 16 });
  let header = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  let current = "";
  let lastKey: string | null = null;
  let expectingKey = false;
  let awaitingDataValue = false;
  let inData = false;
  let dataEscape = "";
  let pending = ""; // base64url characters not yet a multiple of 4
  let dataBytes = 0;
  let sawData = false;

  const emit = async (chars: string, final = false) => {
    pending += chars;
    const usable = final ? pending.length : pending.length - (pending.length % 4);
    if (usable === 0) return;
    const text = pending.slice(0, usable);
    pending = pending.slice(usable);
    if (!/^[A-Za-z0-9_-]*$/.test(text) || (final && text.length % 4 === 1)) {
      throw new VmdError(
        "err_invalid_module",
        `${path}: data is not base64url`,
        "rebuild the module with `vmdocker module build`",
      );
    }
    const bytes = Buffer.from(text, "base64url");
    dataBytes += bytes.length;
    if (sink) await sink(bytes);
  };

  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let i = 0;
      while (i < chunk.length) {
        if (inData) {
          if (dataEscape) {
            dataEscape += chunk[i++];
            if (dataEscape.length === 2 && dataEscape[1] !== "u") {
              const map: Record<string, string> = { "/": "/", "\\": "\\", '"': '"' };
              await emit(map[dataEscape[1]!] ?? "!");
              dataEscape = "";
            } else if (dataEscape.length === 6) {
              await emit(String.fromCharCode(parseInt(dataEscape.slice(2), 16)));
              dataEscape = "";
            }
            continue;
          }
          const q = chunk.indexOf('"', i);
          const b = chunk.indexOf("\\", i);
          const stop = q === -1 ? b : b === -1 ? q : Math.min(q, b);
          if (stop === -1) {
            await emit(chunk.slice(i));
            i = chunk.length;
          } else {
            await emit(chunk.slice(i, stop));
            if (chunk[stop] === "\\") {
              dataEscape = "\\";
            } else {
              await emit("", true);
              inData = false;
              header += '""';
            }
            i = stop + 1;
          }
          continue;
        }
        const c = chunk[i++]!;
        if (awaitingDataValue && !/\s/.test(c)) {
          awaitingDataValue = false;
          if (c === '"') {
            sawData = true;
            if (opts.stopAtData) {
              stream.destroy();
              return { header: parseHeader(path, `${header}""}`), dataBytes: -1 };
            }
            inData = true;
            continue;
          }
        }
        header += c;
        if (inString) {
          if (escaped) escaped = false;
          else if (c === "\\") escaped = true;
          else if (c === '"') {
            inString = false;
            if (depth === 1 && expectingKey) {
              lastKey = current;
              expectingKey = false;
            }
          } else if (depth === 1 && expectingKey) current += c;
          continue;
        }
        if (c === '"') {
          inString = true;
          current = "";
        } else if (c === "{" || c === "[") {
          depth++;
          if (depth === 1) expectingKey = true;
        } else if (c === "}" || c === "]") depth--;
        else if (c === "," && depth === 1) expectingKey = true;
        else if (c === ":" && depth === 1 && lastKey === "data") awaitingDataValue = true;
        else if (c === ":" && depth === 1) lastKey = null;
      }
    }
  } finally {
    stream.destroy();
  }
  if (inData || depth !== 0) {
    throw new VmdError(
      "err_invalid_module",
      `${path} is truncated`,
      "copy or rebuild the module file",
    );
  }
  const parsed = parseHeader(path, header);
  if (!sawData) parsed.data = "";
  return { header: parsed, dataBytes };
}

function parseHeader(path: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new VmdError(
      "err_invalid_module",
      `${path} is not a module file (invalid JSON)`,
      "copy or rebuild the module file",
    );
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new VmdError(
      "err_invalid_module",
      `${path} is not a module file`,
      "copy or rebuild the module file",
    );
  }
  return parsed as Record<string, unknown>;
}
