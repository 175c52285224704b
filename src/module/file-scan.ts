import { open } from "node:fs/promises";
import { VmdError } from "../errors.js";

/** What a module file holds besides its data: the item JSON with `data` emptied, and the data's size. */
export interface ScannedModule {
  header: Record<string, unknown>;
  /** Decoded payload length in bytes. */
  dataBytes: number;
}

/**
 * Receives decoded data in order. `bytes` is a view of a buffer the scanner reuses: it stays valid
 * until the sink returns (or its promise settles); copy it to keep it longer.
 */
export type Sink = (bytes: Buffer) => void | Promise<void>;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/**
 * Bytes read at a time, into one buffer reused for every read (fresh buffers cost a page fault per
 * page): large pieces keep the per-piece work (decode, hash, write) small.
 */
const PIECE = 1 << 21;
/** Base64url characters turned into one string at a time (a multiple of 4). */
const TEXT = 1 << 16;
/** Decoded bytes handed to the sink at most at a time: one piece's worth, in one reused buffer. */
const OUT = (PIECE / 4) * 3 + 1024;

/**
 * Reads a `mod-<id>.json` without ever holding its `data` in memory: the top-level "data" string
 * is base64url-decoded as it streams by and handed to `sink` piece by piece (awaited, so a slow
 * consumer slows the read; see Sink for how long a piece stays valid). Everything else is parsed
 * as JSON. JSON escapes in data are honoured. Works on bytes: JSON's structure is ASCII, and
 * UTF-8 never reuses ASCII bytes inside a character, so no text is decoded except the header.
 * Throws VmdError err_invalid_module for a file that is not a module, is truncated, or whose data
 * is not base64url.
 */
export async function scanModuleFile(
  path: string,
  sink?: Sink,
  opts: { stopAtData?: boolean } = {},
): Promise<ScannedModule> {
  const handle = await open(path, "r");
  const piece = Buffer.allocUnsafe(PIECE);
  const header: Buffer[] = [];
  let headerStart: number;
  let depth = 0;
  let inString = false;
  let escaped = false;
  let current: number[] = [];
  let lastKey: string | null = null;
  let expectingKey = false;
  let awaitingDataValue = false;
  let inData = false;
  let dataEscape = "";
  let pending = ""; // base64url characters not yet a multiple of 4
  let dataBytes = 0;
  let sawData = false;
  const out = Buffer.allocUnsafe(OUT);
  let outLength = 0;
  const notBase64 = () =>
    new VmdError(
      "err_invalid_module",
      `${path}: data is not base64url`,
      "rebuild the module with `vmdocker module build`",
    );

  /** Hands the decoded bytes so far to `sink` (a view of `out`, valid until the sink settles). */
  const flush = async () => {
    if (outLength === 0) return;
    const bytes = out.subarray(0, outLength);
    dataBytes += outLength;
    outLength = 0;
    if (sink) await sink(bytes);
  };
  /** Decodes base64url characters into `out`, whole quads only until the end (`final`). */
  const decode = async (text: string, final: boolean) => {
    if (text.length === 0) return;
    if (final && text.length % 4 === 1) throw notBase64();
    const length = Math.floor((text.length * 3) / 4);
    if (outLength + length > out.length) await flush();
    // The decoder skips what is not base64url: then fewer bytes come out than the length says.
    if (out.write(text, outLength, "base64url") !== length) throw notBase64();
    outLength += length;
  };
  /** Base64url text (a string, or bytes of the file from..to) on its way to `decode`. */
  const emit = async (chars: string | Buffer, from = 0, to = 0, final = false) => {
    let at = from;
    if (typeof chars === "string") pending += chars;
    else if (pending) {
      // complete the quad that the last piece left open
      const take = Math.min(to - at, (4 - (pending.length % 4)) % 4);
      pending += chars.toString("latin1", at, at + take);
      at += take;
    }
    if (pending.length % 4 === 0 || final) {
      await decode(pending, final && (typeof chars === "string" || at === to));
      pending = "";
    }
    if (typeof chars === "string" || at === to) return;
    const end = final ? to : to - ((to - at) % 4);
    // Small strings live and die in V8's young generation; a whole piece's string would not.
    for (; at < end; at += TEXT) {
      const stop = Math.min(end, at + TEXT);
      await decode(chars.toString("latin1", at, stop), final && stop === end);
    }
    pending = chars.toString("latin1", end, to);
  };

  try {
    for (;;) {
      const { bytesRead } = await handle.read(piece, 0, PIECE, null);
      if (bytesRead === 0) break;
      const chunk = piece.subarray(0, bytesRead);
      let i = 0;
      headerStart = 0;
      while (i < chunk.length) {
        if (inData) {
          if (dataEscape) {
            dataEscape += String.fromCharCode(chunk[i++]!);
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
          const q = chunk.indexOf(QUOTE, i);
          const b = chunk.indexOf(BACKSLASH, i);
          const stop = q === -1 ? b : b === -1 ? q : Math.min(q, b);
          await emit(chunk, i, stop === -1 ? chunk.length : stop);
          if (stop === -1) {
            i = chunk.length;
          } else {
            if (chunk[stop] === BACKSLASH) dataEscape = "\\";
            else {
              await emit("", 0, 0, true);
              await flush();
              inData = false;
              header.push(Buffer.from('""'));
            }
            i = stop + 1;
          }
          headerStart = i;
          continue;
        }
        const c = chunk[i++]!;
        const white = c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
        if (awaitingDataValue && !white) {
          awaitingDataValue = false;
          if (c === QUOTE) {
            sawData = true;
            header.push(Buffer.from(chunk.subarray(headerStart, i - 1)));
            if (opts.stopAtData) {
              header.push(Buffer.from('""}'));
              return { header: parseHeader(path, Buffer.concat(header)), dataBytes: -1 };
            }
            inData = true;
            continue;
          }
        }
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) {
            inString = false;
            if (depth === 1 && expectingKey) {
              lastKey = Buffer.from(current).toString("utf8");
              expectingKey = false;
            }
          } else if (depth === 1 && expectingKey) current.push(c);
          continue;
        }
        if (c === QUOTE) {
          inString = true;
          current = [];
        } else if (c === 0x7b || c === 0x5b) {
          depth++;
          if (depth === 1) expectingKey = true;
        } else if (c === 0x7d || c === 0x5d) depth--;
        else if (c === 0x2c && depth === 1) expectingKey = true;
        else if (c === 0x3a && depth === 1 && lastKey === "data") awaitingDataValue = true;
        else if (c === 0x3a && depth === 1) lastKey = null;
      }
      if (!inData) header.push(Buffer.from(chunk.subarray(headerStart)));
      else await flush();
    }
  } finally {
    await handle.close();
  }
  if (inData || depth !== 0) {
    throw new VmdError(
      "err_invalid_module",
      `${path} is truncated`,
      "copy or rebuild the module file",
    );
  }
  const parsed = parseHeader(path, Buffer.concat(header));
  if (!sawData) parsed.data = "";
  return { header: parsed, dataBytes };
}

function parseHeader(path: string, bytes: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
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
