import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { VmdError } from "../../errors.js";
import type { RunResult } from "../../sys/exec.js";
import type { Instance, InstanceSpec } from "./instance.js";
import { answer } from "./runtime-call.js";

/** Runs `docker <args>` (Docker Desktop's CLI). Injected so the command lines can be tested on Linux. */
export type DockerCli = (args: string[]) => Promise<RunResult>;

export interface SandboxOptions {
  /** Docker Desktop sandbox agent (module tag Sandbox-Agent), default shell. */
  agent: string;
  /** Module tag Sandbox-Name, else hymatrix_ + the first 10 characters of the pid. */
  name?: string;
  /** Module tag Sandbox-Command: used verbatim when no Start-Command is given. */
  command?: string;
  imageId: string;
  pid: string;
}

const STATUS_MARK = "\n__STATUS__:";
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The lockdown upstream runs as root before launching: home and /workspace read-only, /tmp root-owned. */
export const LOCKDOWN =
  "chown root:root /home/agent /workspace && chmod 0555 /home/agent /workspace && chown root:root /tmp /var/tmp && chmod 0755 /tmp /var/tmp";

/**
 * The `sandbox` backend (Docker Desktop's `docker sandbox`, macOS/Windows; spec §3.8): create from
 * the module's image as template, lock down, launch the start command in the background, and reach
 * `/vmm/*` with curl inside the sandbox (the payload goes through a 0600 file in the workspace).
 */
export class SandboxBackend {
  constructor(private readonly docker: DockerCli) {}

  private async must(args: string[], what: string): Promise<RunResult> {
    const r = await this.docker(args);
    if (r.code !== 0)
      throw new VmdError(
        "err_sandbox",
        `${what} failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`,
        "check Docker Desktop's sandbox feature (docker sandbox --help)",
      );
    return r;
  }

  async create(spec: InstanceSpec, opts: SandboxOptions): Promise<Instance> {
    const help = await this.docker(["--help"]);
    if (!help.stdout.includes("sandbox")) {
      throw new VmdError(
        "err_sandbox",
        "this Docker has no `docker sandbox`",
        "install Docker Desktop with sandboxes, or spawn with Runtime-Backend=docker",
      );
    }
    const inspect = await this.docker(["image", "inspect", spec.image]);
    const verified = (out: string) => {
      try {
        const [img] = JSON.parse(out) as { Id?: string; RepoDigests?: string[] }[];
        return (
          img?.Id === opts.imageId || (img?.RepoDigests ?? []).some((d) => d.includes(opts.imageId))
        );
      } catch {
        return false;
      }
    };
    if (inspect.code !== 0 || !verified(inspect.stdout)) {
      await this.must(["pull", spec.image], `docker pull ${spec.image}`);
      const again = await this.must(["image", "inspect", spec.image], "docker image inspect");
      if (!verified(again.stdout))
        throw new VmdError(
          "err_image_id_mismatch",
          `${spec.image} is not ${opts.imageId}`,
          "rebuild the module",
        );
    }
    const name = opts.name ?? `hymatrix_${opts.pid.slice(0, 10)}`;
    await this.must(
      [
        "sandbox",
        "create",
        "--name",
        name,
        "--pull-template",
        "missing",
        "-t",
        spec.image,
        opts.agent,
        spec.workspace,
      ],
      "docker sandbox create",
    );
    await this.must(
      ["sandbox", "exec", "-u", "0:0", "-w", spec.workspace, name, "sh", "-c", LOCKDOWN],
      "sandbox lockdown",
    );
    const command = spec.argv.length > 0 ? spec.argv.map(q).join(" ") : (opts.command ?? "");
    const envArgs = Object.entries(spec.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    await this.must(
      [
        "sandbox",
        "exec",
        ...envArgs,
        "-w",
        spec.workspace,
        name,
        "sh",
        "-lc",
        `mkdir -p "\${TMPDIR:-/tmp}" && ${command} >"\${TMPDIR:-/tmp}/vmdocker-agent.log" 2>&1 &`,
      ],
      "sandbox launch",
    );
    const ws = spec.workspace;
    return {
      id: name,
      name,
      call: async (path, body) => {
        let dataArg = "--data-raw ''";
        let file: string | undefined;
        if (body !== undefined) {
          mkdirSync(join(ws, ".tmp"), { recursive: true });
          file = join(
            ws,
            ".tmp",
            `runtime-request-${process.hrtime.bigint()}-${randomBytes(3).toString("hex")}.json`,
          );
          writeFileSync(file, JSON.stringify(body), { mode: 0o600 });
          dataArg = `--data-binary @${file}`;
        }
        try {
          const r = await this.docker([
            "sandbox",
            "exec",
            "-w",
            ws,
            name,
            "sh",
            "-lc",
            `curl -sS -X POST -H 'Content-Type: application/json' ${dataArg} 'http://127.0.0.1:8080/vmm/${path}' -w '${STATUS_MARK.replace("\n", "\\n")}%{http_code}'`,
          ]);
          const at = r.stdout.lastIndexOf(STATUS_MARK);
          if (r.code !== 0 || at < 0)
            throw new Error(`curl in the sandbox failed: ${r.stderr.trim()}`);
          return answer(
            Number(r.stdout.slice(at + STATUS_MARK.length).trim()),
            r.stdout.slice(0, at),
          );
        } finally {
          if (file) rmSync(file, { force: true });
        }
      },
      running: async () => (await this.docker(["sandbox", "exec", name, "true"])).code === 0,
      remove: async () => {
        const stop = await this.docker(["sandbox", "stop", name]);
        if (stop.code !== 0 && !/not running/i.test(stop.stderr))
          throw new VmdError(
            "err_sandbox",
            `docker sandbox stop failed: ${stop.stderr.trim()}`,
            "stop it in Docker Desktop",
          );
        await this.docker(["sandbox", "rm", name]);
      },
    };
  }
}
