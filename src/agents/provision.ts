import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VmdError, errorMessage } from "../errors.js";
import type { Task } from "../progress.js";
import type { DockerClient } from "../runtime/docker/client.js";
import { IMAGES } from "../runtime/images/builder.js";
import type { Profile } from "./profiles.js";

const RECIPE = "agent-profile-v1";
export const CA_PATH = "/etc/ssl/certs/vmdocker-extra-ca.pem";

export interface ProfileImageOptions {
  /** A PEM bundle the agent's tools trust (hosts behind a TLS-intercepting proxy). */
  caBundle?: string;
  /** Where the build's full output goes when it fails. */
  logFile: string;
}

export interface ProfileImage {
  reference: string;
  cached: boolean;
  seconds: number;
}

/** The Dockerfile of a profile: packages, CA bundle, files and setup tasks over the base image. */
export function profileDockerfile(profile: Profile, base: string, withCa: boolean): string {
  const lines = [`FROM ${base}`, "USER root"];
  if (withCa) {
    lines.push(`COPY ca.pem ${CA_PATH}`, `ENV NODE_EXTRA_CA_CERTS=${CA_PATH}`);
  }
  if (profile.packages.length) {
    lines.push(
      `RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${profile.packages.join(" ")} && rm -rf /var/lib/apt/lists/*`,
    );
  }
  if (withCa) {
    // Tools other than Node read the system bundle (when ca-certificates is installed).
    lines.push(
      `RUN if [ -f /etc/ssl/certs/ca-certificates.crt ]; then cat ${CA_PATH} >> /etc/ssl/certs/ca-certificates.crt; fi`,
    );
  }
  profile.files.forEach((f, i) => {
    lines.push(`COPY files/${i} ${f.path}`);
    if (f.mode) lines.push(`RUN ["chmod", ${JSON.stringify(f.mode)}, ${JSON.stringify(f.path)}]`);
  });
  for (const t of profile.setup_tasks)
    lines.push(`RUN ${JSON.stringify(["/bin/sh", "-c", t.command])}`);
  lines.push("USER vmd", "WORKDIR /workspace", "");
  return lines.join("\n");
}

/**
 * Builds (or reuses) the profile's image `openclaw-agent-<profile>:<hash>`, the hash covering the
 * profile, the base image's id and the CA bundle, so a changed profile gets a new image.
 */
export async function ensureProfileImage(
  client: DockerClient,
  profile: Profile,
  opts: ProfileImageOptions,
  task: Task,
): Promise<ProfileImage> {
  const started = Date.now();
  const base = profile.base_image ?? IMAGES["agent-base"];
  const baseInfo = await client.inspectImage(base);
  if (!baseInfo)
    throw new VmdError(
      "err_no_base_image",
      `the agent base image ${base} is missing`,
      profile.base_image
        ? `build or load ${base} (profile ${profile.name} names it)`
        : "run `vmdocker images build`",
    );
  const ca = opts.caBundle ? readFileSync(opts.caBundle) : undefined;
  const { description: _d, ...significant } = profile;
  const hash = createHash("sha256")
    .update(RECIPE)
    .update(JSON.stringify(significant))
    .update(baseInfo.Id)
    .update(ca ?? "")
    .digest("hex")
    .slice(0, 12);
  const reference = `openclaw-agent-${profile.name}:${hash}`;
  if (await client.inspectImage(reference))
    return { reference, cached: true, seconds: (Date.now() - started) / 1000 };

  const dir = mkdtempSync(join(tmpdir(), "vmd-profile-"));
  const log: string[] = [];
  try {
    const src = ["Dockerfile"];
    const dockerfile = profileDockerfile(profile, base, !!ca);
    writeFileSync(join(dir, "Dockerfile"), dockerfile);
    if (ca) {
      writeFileSync(join(dir, "ca.pem"), ca);
      src.push("ca.pem");
    }
    mkdirSync(join(dir, "files"));
    profile.files.forEach((f, i) => {
      writeFileSync(join(dir, "files", String(i)), f.content);
      src.push(`files/${i}`);
    });
    const steps = dockerfile.split("\n").filter(Boolean).length;
    let step = 0;
    await client.buildImage(
      { context: dir, src },
      { tag: reference, labels: { "org.vmdocker.profile": profile.name } },
      (e) => {
        if (e.stream) log.push(e.stream);
        const m = /^Step (\d+)\/(\d+) : (.*)/.exec(e.stream ?? "");
        if (m) {
          step = Number(m[1]);
          task.update(m[3]!.slice(0, 60), step / steps);
        }
      },
    );
    return { reference, cached: false, seconds: (Date.now() - started) / 1000 };
  } catch (err) {
    mkdirSync(join(opts.logFile, ".."), { recursive: true });
    writeFileSync(opts.logFile, `${log.join("")}\n${errorMessage(err)}\n`);
    throw new VmdError(
      "err_profile_build",
      `building profile ${profile.name} failed: ${errorMessage(err)}`,
      `the whole build output is in ${opts.logFile}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
