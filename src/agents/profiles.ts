import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { VmdError } from "../errors.js";

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i;
const UNITS: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "4g", "512m", "1.5G", 1073741824 → bytes. */
export function parseSize(v: string | number): number {
  if (typeof v === "number") return v;
  const m = SIZE.exec(v.trim());
  if (!m) throw new Error(`${v} is not a size like 512m or 4g`);
  return Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}

const Size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseSize(v);
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message });
    return z.NEVER;
  }
});

const FileEntry = z
  .object({
    path: z.string().startsWith("/", "must be an absolute path"),
    content: z.string(),
    mode: z
      .string()
      .regex(/^[0-7]{3,4}$/, "must be an octal mode like 0644")
      .optional(),
  })
  .strict();

export const ProfileSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,40}$/, "lowercase letters, digits and -"),
    description: z.string().default(""),
    /** A custom base image (default: openclaw-agent-base); it must carry the agent runtime. */
    base_image: z.string().min(1).optional(),
    resources: z
      .object({
        cpus: z.coerce.number().positive().default(1),
        memory: Size.default(512 * 2 ** 20),
        pids: z.coerce.number().int().positive().default(512),
      })
      .strict()
      .default({ cpus: 1, memory: 512 * 2 ** 20, pids: 512 }),
    environment: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
    /** Debian packages, installed with apt-get when the profile's image is built. */
    packages: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "a Debian package name"))
      .default([]),
    /** Files written into the image: a list of {path, content, mode} or a map path → content. */
    files: z
      .union([
        z.array(FileEntry),
        z
          .record(z.string(), z.string())
          .transform((m) => Object.entries(m).map(([path, content]) => ({ path, content }))),
      ])
      .pipe(z.array(FileEntry))
      .default([]),
    /** Commands run (as root, with the network) while the image is built. */
    setup_tasks: z
      .array(
        z
          .object({
            type: z.literal("exec"),
            command: z.string().min(1),
            description: z.string().optional(),
          })
          .strict(),
      )
      .default([]),
    /** Mount the engine's socket: root on the host for anything in the agent. Only docker-host sets it. */
    docker_socket: z.boolean().default(false),
  })
  .strict();

export type Profile = z.infer<typeof ProfileSchema>;

/** Validates a profile's JSON; the error names the file and the first wrong field. */
export function parseProfile(text: string, source: string): Profile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new VmdError(
      "err_bad_profile",
      `${source} is not JSON: ${(err as Error).message}`,
      "fix the file",
    );
  }
  const parsed = ProfileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new VmdError(
      "err_bad_profile",
      `${source}: ${issue.path.join(".") || "(top)"}: ${issue.message}`,
      "see profiles/README.md for the profile format",
    );
  }
  return parsed.data;
}

/** Profiles come from the user's folder first, then the ones shipped in `profiles/`. */
export class ProfileCatalog {
  constructor(private readonly dirs: string[]) {}

  names(): string[] {
    const all = new Set<string>();
    for (const d of this.dirs)
      if (existsSync(d))
        for (const f of readdirSync(d)) if (f.endsWith(".json")) all.add(f.slice(0, -5));
    return [...all].sort();
  }

  get(name: string): Profile {
    for (const d of this.dirs) {
      const file = join(d, `${name}.json`);
      if (existsSync(file)) {
        const profile = parseProfile(readFileSync(file, "utf8"), file);
        if (profile.name !== name)
          throw new VmdError(
            "err_bad_profile",
            `${file} names itself ${profile.name}`,
            `set "name": "${name}"`,
          );
        return profile;
      }
    }
    throw new VmdError(
      "err_unknown_profile",
      `no profile ${name}`,
      `use one of: ${this.names().join(", ")} (or add ${name}.json to ${this.dirs[0]})`,
    );
  }
}
