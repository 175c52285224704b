// `KEY='value'` files (the seed keeps instance state in env files). They are parsed here, never
// sourced by a shell: a value cannot run anything, whatever it holds.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { VmdError } from "../errors.js";

const KEY = /^[A-Z][A-Z0-9_]*$/;

/** `'it'\''s'` style quoting, so the file still reads like the seed's shell env files. */
function quote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Serialises pairs as `KEY='value'` lines; keys must be upper-case identifiers, values one line. */
export function formatEnvFile(values: Record<string, string>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (!KEY.test(k)) throw new Error(`not an env file key: ${k}`);
    if (/[\n\r\0]/.test(v)) throw new Error(`the value of ${k} spans lines`);
    lines.push(`${k}=${quote(v)}`);
  }
  return `${lines.join("\n")}\n`;
}

function unquote(raw: string, where: string): string {
  if (raw.startsWith("'")) {
    // A run of single-quoted pieces joined by \' (what formatEnvFile writes).
    let out = "";
    let i = 0;
    while (i < raw.length) {
      if (raw[i] === "'") {
        const end = raw.indexOf("'", i + 1);
        if (end < 0) throw new Error(`${where}: unterminated quote`);
        out += raw.slice(i + 1, end);
        i = end + 1;
      } else if (raw.startsWith("\\'", i)) {
        out += "'";
        i += 2;
      } else throw new Error(`${where}: text after a quoted value`);
    }
    return out;
  }
  if (raw.startsWith('"')) {
    if (!raw.endsWith('"') || raw.length < 2) throw new Error(`${where}: unterminated quote`);
    return raw.slice(1, -1).replace(/\\(["\\$`])/g, "$1");
  }
  if (/[\s'"`$;&|<>()\\]/.test(raw)) throw new Error(`${where}: unquoted special characters`);
  return raw;
}

/**
 * Parses `KEY=value` lines (blank lines and `#` comments allowed). Values may be bare, single- or
 * double-quoted; nothing is expanded.
 * @throws VmdError err_state_corrupt naming the file and line
 */
export function parseEnvFile(text: string, file = "env file"): Record<string, string> {
  const out: Record<string, string> = {};
  text.split("\n").forEach((line, i) => {
    const t = line.trim();
    if (!t || t.startsWith("#")) return;
    const eq = t.indexOf("=");
    const key = eq > 0 ? t.slice(0, eq).replace(/^export\s+/, "") : "";
    try {
      if (!KEY.test(key)) throw new Error(`${file}:${i + 1}: not KEY=value`);
      out[key] = unquote(t.slice(eq + 1), `${file}:${i + 1}`);
    } catch (err) {
      throw new VmdError(
        "err_state_corrupt",
        (err as Error).message,
        `fix or remove the line in ${file}`,
      );
    }
  });
  return out;
}

export function readEnvFile(file: string): Record<string, string> {
  return parseEnvFile(readFileSync(file, "utf8"), file);
}

/** Writes atomically (temp file + rename) with the given mode (0600 by default: these hold secrets). */
export function writeEnvFile(file: string, values: Record<string, string>, mode = 0o600): void {
  writePrivate(file, formatEnvFile(values), mode);
}

/** Writes a file atomically, created with `mode` from the start (never briefly world-readable). */
export function writePrivate(file: string, text: string | Buffer, mode = 0o600): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}
