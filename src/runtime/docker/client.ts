import { readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { PassThrough, type Readable } from "node:stream";
import Docker from "dockerode";
import type { EngineAddress } from "./address.js";
import { translateDockerError, CheckpointUnavailableError, type ErrorContext } from "./errors.js";
import { demuxDockerBuffer } from "./demux.js";

export type ContainerSpec = Docker.ContainerCreateOptions;
export type ContainerInfo = Docker.ContainerInspectInfo;
export type ImageInfo = Docker.ImageInspectInfo;

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface ProgressEvent {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  aux?: { ID?: string };
}

export interface CheckpointInfo {
  Name: string;
}

/**
 * The one way the product talks to a Docker engine: the Engine API through dockerode. Every call
 * turns engine failures into typed errors (engine down, image missing, name conflict) with a hint.
 */
export class DockerClient {
  readonly docker: Docker;

  constructor(readonly address: EngineAddress) {
    this.docker = new Docker(
      address.kind === "unix"
        ? { socketPath: address.socketPath }
        : { host: address.host, port: address.port, protocol: address.protocol, ...address.tls },
    );
  }

  private async call<T>(ctx: Omit<ErrorContext, "where">, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateDockerError(err, { where: this.address.display, ...ctx });
    }
  }

  ping(): Promise<void> {
    return this.call({}, async () => {
      await this.docker.ping();
    });
  }

  version(): Promise<Docker.DockerVersion> {
    return this.call({}, () => this.docker.version());
  }

  info(): Promise<
    { ExperimentalBuild?: boolean; ServerVersion?: string; CgroupVersion?: string } & Record<
      string,
      unknown
    >
  > {
    return this.call({}, () => this.docker.info());
  }

  // ---- images ----

  /** The image's metadata, or null when the engine does not have it. */
  async inspectImage(name: string): Promise<ImageInfo | null> {
    try {
      return await this.docker.getImage(name).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw translateDockerError(err, { where: this.address.display, image: name });
    }
  }

  /** Every `repo:tag` reference the engine knows, with the id (`sha256:…`) it points to. */
  listImageTags(): Promise<Map<string, string>> {
    return this.call(
      {},
      async () =>
        new Map(
          (await this.docker.listImages()).flatMap((i) =>
            (i.RepoTags ?? []).map((t) => [t, i.Id] as const),
          ),
        ),
    );
  }

  tagImage(source: string, target: string): Promise<void> {
    const { repo, tag } = splitReference(target);
    return this.call({ image: source }, async () => {
      await this.docker.getImage(source).tag({ repo, tag });
    });
  }

  removeImage(name: string, force = false): Promise<void> {
    return this.call({ image: name }, async () => {
      await this.docker.getImage(name).remove({ force });
    });
  }

  /** `docker save` as a stream (an uncompressed tar). */
  saveImage(name: string): Promise<Readable> {
    return this.call(
      { image: name },
      async () => (await this.docker.getImage(name).get()) as Readable,
    );
  }

  /** `docker load` from a tar stream; returns the image references the engine reported. */
  loadImage(tar: Readable, onProgress?: (e: ProgressEvent) => void): Promise<string[]> {
    return this.call({}, async () => {
      const stream = await this.docker.loadImage(tar, { quiet: false });
      const events = await this.follow(stream, onProgress);
      const loaded: string[] = [];
      for (const e of events) {
        const m = /Loaded image(?: ID)?: (\S+)/.exec(e.stream ?? "");
        if (m?.[1]) loaded.push(m[1]);
      }
      return loaded;
    });
  }

  /** `docker import` of a root filesystem tar; `changes` are Dockerfile instructions (LABEL, ENV, CMD). */
  importImage(tar: Readable, reference: string, changes: string[] = []): Promise<string> {
    const { repo, tag } = splitReference(reference);
    return this.call({}, async () => {
      const stream = await this.docker.importImage(tar, { repo, tag, changes });
      const events = await this.follow(stream);
      const id = events.map((e) => e.status).find((s) => s?.startsWith("sha256:"));
      return id ?? reference;
    });
  }

  /** Pulls from a registry (where one is reachable). */
  pullImage(reference: string, onProgress?: (e: ProgressEvent) => void): Promise<void> {
    return this.call({ image: reference }, async () => {
      const stream = await this.docker.pull(reference);
      await this.follow(stream, onProgress);
    });
  }

  /** Builds from a build context (a folder and the files in it); resolves to the image id. */
  buildImage(
    context: { context: string; src: string[] },
    opts: {
      tag: string;
      dockerfile?: string;
      buildargs?: Record<string, string>;
      labels?: Record<string, string>;
    },
    onProgress?: (e: ProgressEvent) => void,
  ): Promise<string> {
    return this.call({}, async () => {
      const stream = await this.docker.buildImage(context, {
        t: opts.tag,
        dockerfile: opts.dockerfile ?? "Dockerfile",
        buildargs: opts.buildargs ?? {},
        labels: opts.labels ?? {},
        rm: true,
        forcerm: true,
      });
      const events = await this.follow(stream, onProgress);
      const built = events.find((e) => e.aux?.ID)?.aux?.ID;
      if (built) return built;
      const image = await this.inspectImage(opts.tag);
      if (!image) throw new Error(`build of ${opts.tag} finished without an image`);
      return image.Id;
    });
  }

  private follow(
    stream: NodeJS.ReadableStream,
    onProgress?: (e: ProgressEvent) => void,
  ): Promise<ProgressEvent[]> {
    return new Promise((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (
          err,
          result: (ProgressEvent & { error?: string; errorDetail?: { message?: string } })[],
        ) => {
          if (err) return reject(err);
          const failed = result.find((r) => r.error);
          if (failed) return reject(new Error(failed.errorDetail?.message ?? failed.error));
          resolve(result);
        },
        onProgress,
      );
    });
  }

  // ---- containers ----

  createContainer(spec: ContainerSpec): Promise<string> {
    return this.call(
      { container: spec.name, image: spec.Image },
      async () => (await this.docker.createContainer(spec)).id,
    );
  }

  startContainer(id: string, opts: { checkpoint?: string } = {}): Promise<void> {
    return this.call({ container: id }, async () => {
      if (!opts.checkpoint) return void (await this.docker.getContainer(id).start());
      // The engine refuses a start with a body: the checkpoint goes in the query only.
      const start = () =>
        this.dial({
          path: `/containers/${encodeURIComponent(id)}/start?`,
          method: "POST",
          options: { _query: { checkpoint: opts.checkpoint }, _body: {} },
          statusCodes: { 204: true, 304: true, 404: "no such container", 500: "server error" },
        });
      await retryContainerdRace(start);
    });
  }

  stopContainer(id: string, timeoutSeconds = 10): Promise<void> {
    return this.call({ container: id }, async () => {
      try {
        await this.docker.getContainer(id).stop({ t: timeoutSeconds });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 304) throw err; // already stopped
      }
    });
  }

  killContainer(id: string, signal = "SIGKILL"): Promise<void> {
    return this.call({ container: id }, async () => {
      await this.docker.getContainer(id).kill({ signal });
    });
  }

  removeContainer(id: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<void> {
    return this.call({ container: id }, async () => {
      await this.docker
        .getContainer(id)
        .remove({ force: opts.force ?? false, v: opts.volumes ?? false });
    });
  }

  /** Freezes every process of the container (cgroup freezer) until unpause. */
  pauseContainer(id: string): Promise<void> {
    return this.call({ container: id }, async () => {
      await this.docker.getContainer(id).pause();
    });
  }

  unpauseContainer(id: string): Promise<void> {
    return this.call({ container: id }, async () => {
      await this.docker.getContainer(id).unpause();
    });
  }

  renameContainer(id: string, name: string): Promise<void> {
    return this.call({ container: id }, async () => {
      await this.docker.getContainer(id).rename({ name });
    });
  }

  inspectContainer(id: string): Promise<ContainerInfo> {
    return this.call({ container: id }, () => this.docker.getContainer(id).inspect());
  }

  /** The container's metadata, or null when it does not exist. */
  async findContainer(id: string): Promise<ContainerInfo | null> {
    try {
      return await this.docker.getContainer(id).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw translateDockerError(err, { where: this.address.display, container: id });
    }
  }

  listContainers(
    filters: Record<string, string[]> = {},
    all = true,
  ): Promise<Docker.ContainerInfo[]> {
    return this.call({}, () => this.docker.listContainers({ all, filters }));
  }

  /** The last lines of a container's output (stdout and stderr interleaved as written). */
  logs(id: string, opts: { tail?: number; since?: number } = {}): Promise<string> {
    return this.call({ container: id }, async () => {
      const container = this.docker.getContainer(id);
      const info = await container.inspect();
      const buf = (await container.logs({
        stdout: true,
        stderr: true,
        follow: false,
        ...(opts.tail === undefined ? {} : { tail: opts.tail }),
        since: opts.since ?? 0,
      })) as unknown as Buffer;
      return info.Config.Tty ? buf.toString("utf8") : demuxDockerBuffer(buf).combined;
    });
  }

  /** Output as it is written, until the container stops or the caller destroys the stream. */
  followLogs(id: string, opts: { tail?: number } = {}): Promise<Readable> {
    return this.call({ container: id }, async () => {
      const container = this.docker.getContainer(id);
      const info = await container.inspect();
      const raw = (await container.logs({
        stdout: true,
        stderr: true,
        follow: true,
        ...(opts.tail === undefined ? {} : { tail: opts.tail }),
      })) as unknown as Readable;
      if (info.Config.Tty) return raw;
      const out = new PassThrough();
      this.docker.modem.demuxStream(raw, out, out);
      raw.on("end", () => out.end());
      out.on("close", () => raw.destroy());
      return out;
    });
  }

  stats(id: string): Promise<Docker.ContainerStats> {
    return this.call({ container: id }, () =>
      this.docker.getContainer(id).stats({ stream: false }),
    );
  }

  /** Runs a command in a running container and waits for it; stdout and stderr are kept apart. */
  exec(
    id: string,
    cmd: string[],
    opts: { user?: string; env?: string[]; workingDir?: string } = {},
  ): Promise<ExecResult> {
    return this.call({ container: id }, async () => {
      const exec = await this.docker.getContainer(id).exec({
        Cmd: cmd,
        AttachStdout: true,
        AttachStderr: true,
        User: opts.user,
        Env: opts.env,
        WorkingDir: opts.workingDir,
      });
      const stream = await exec.start({ hijack: true, stdin: false });
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
      stdout.on("data", (c: Buffer) => chunks.out.push(c));
      stderr.on("data", (c: Buffer) => chunks.err.push(c));
      this.docker.modem.demuxStream(stream, stdout, stderr);
      await new Promise<void>((resolve, reject) => {
        stream.on("end", resolve);
        stream.on("close", resolve);
        stream.on("error", reject);
      });
      const inspected = await exec.inspect();
      return {
        exitCode: inspected.ExitCode ?? -1,
        stdout: Buffer.concat(chunks.out).toString("utf8"),
        stderr: Buffer.concat(chunks.err).toString("utf8"),
      };
    });
  }

  /** A new image from the container's filesystem changes (`docker commit`); returns its id. */
  commitContainer(id: string, repo: string, tag: string): Promise<string> {
    return this.call({ container: id }, async () => {
      const res = (await this.docker.getContainer(id).commit({ repo, tag, pause: true })) as {
        Id: string;
      };
      return res.Id;
    });
  }

  /** A tar stream of a path inside the container (`docker cp` out). */
  getArchive(id: string, path: string): Promise<Readable> {
    return this.call(
      { container: id },
      async () => (await this.docker.getContainer(id).getArchive({ path })) as Readable,
    );
  }

  // ---- networks and volumes ----

  /** Creates the bridge network unless it exists; returns its id. */
  ensureNetwork(name: string, labels: Record<string, string> = {}): Promise<string> {
    return this.call({}, async () => {
      const found = await this.docker.listNetworks({ filters: { name: [name] } });
      const exact = found.find((n) => n.Name === name);
      if (exact) return exact.Id;
      const net = await this.docker.createNetwork({
        Name: name,
        Driver: "bridge",
        CheckDuplicate: true,
        Labels: labels,
      });
      return net.id;
    });
  }

  /**
   * The gateway address of a network (the host's side of its bridge): from its IPAM config, else
   * (the default bridge does not list one) the address of its bridge interface on this host.
   */
  networkGateway(name: string): Promise<string | undefined> {
    return this.call({}, async () => {
      const info = (await this.docker.getNetwork(name).inspect()) as {
        IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] };
        Options?: Record<string, string>;
      };
      const listed = info.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
      if (listed) return listed;
      const bridge = info.Options?.["com.docker.network.bridge.name"];
      const up = bridge
        ? networkInterfaces()[bridge]?.find((a) => a.family === "IPv4")?.address
        : undefined;
      if (up) return up;
      // An idle bridge is not listed by the OS as up; the engine gives it the subnet's first address.
      const subnet = info.IPAM?.Config?.find((c) => c.Subnet?.includes("."))?.Subnet;
      const m = subnet ? /^(\d+\.\d+\.\d+)\.(\d+)\//.exec(subnet) : null;
      return m ? `${m[1]}.${Number(m[2]) + 1}` : undefined;
    });
  }

  ensureVolume(name: string, labels: Record<string, string> = {}): Promise<void> {
    return this.call({}, async () => {
      await this.docker.createVolume({ Name: name, Labels: labels });
    });
  }

  async volumeExists(name: string): Promise<boolean> {
    try {
      await this.docker.getVolume(name).inspect();
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return false;
      throw translateDockerError(err, { where: this.address.display });
    }
  }

  removeVolume(name: string): Promise<void> {
    return this.call({}, async () => {
      await this.docker.getVolume(name).remove({ force: true });
    });
  }

  // ---- checkpoints (CRIU through the engine; needs dockerd --experimental and CRIU >= 4) ----

  createCheckpoint(id: string, name: string, opts: { exit?: boolean } = {}): Promise<void> {
    return this.call({ container: id }, async () => {
      await retryContainerdRace(() =>
        this.dial({
          path: `/containers/${encodeURIComponent(id)}/checkpoints`,
          method: "POST",
          options: { _body: { CheckpointID: name, Exit: opts.exit ?? true } },
          statusCodes: { 201: true, 200: true, 404: "no such container", 500: "server error" },
        }),
      );
    }).catch((err: unknown) => {
      if (err instanceof CheckpointUnavailableError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      if (/experimental|criu|checkpoint/i.test(msg))
        throw new CheckpointUnavailableError(`${msg.replace(/^engine: /, "")}${criuReason(msg)}`);
      throw err;
    });
  }

  listCheckpoints(id: string): Promise<CheckpointInfo[]> {
    return this.call(
      { container: id },
      async () =>
        ((await this.dial({
          path: `/containers/${encodeURIComponent(id)}/checkpoints?`,
          method: "GET",
          options: {},
          statusCodes: { 200: true, 404: "no such container", 500: "server error" },
        })) ?? []) as CheckpointInfo[],
    );
  }

  deleteCheckpoint(id: string, name: string): Promise<void> {
    return this.call({ container: id }, async () => {
      await this.dial({
        path: `/containers/${encodeURIComponent(id)}/checkpoints/${encodeURIComponent(name)}?`,
        method: "DELETE",
        options: {},
        statusCodes: { 204: true, 200: true, 404: "no such checkpoint", 500: "server error" },
      });
    });
  }

  private dial(
    opts: Parameters<Docker["modem"]["dial"]>[0] & {
      statusCodes: Record<number, boolean | string>;
    },
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.docker.modem.dial(opts, (err, data) => {
        if (err) return reject(err);
        // Some endpoints answer JSON without a JSON content type (e.g. a bare `null`).
        if (Buffer.isBuffer(data)) {
          const text = data.toString("utf8").trim();
          return resolve(text === "" ? null : JSON.parse(text));
        }
        resolve(data);
      });
    });
  }
}

/** Splits `repo[:tag]` (a registry port is not a tag). */
export function splitReference(reference: string): { repo: string; tag: string } {
  const slash = reference.lastIndexOf("/");
  const colon = reference.lastIndexOf(":");
  if (colon > slash) return { repo: reference.slice(0, colon), tag: reference.slice(colon + 1) };
  return { repo: reference, tag: "latest" };
}

/**
 * Docker 20.10 sometimes fails to hand a checkpoint to containerd with "content sha256:... already
 * exists" (moby/moby#42900; seen here on checkpoint create and on start from a checkpoint). The
 * stale content goes once containerd collects it, which took more than 750 ms in one CI run: try
 * for about 12 s (0.5, 1, 2, 4, 4 s apart).
 */
async function retryContainerdRace(op: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await op();
      return;
    } catch (err) {
      const transient = /content sha256:\S+ already exists/.test(String((err as Error).message));
      if (!transient || attempt >= 6) throw err;
      await new Promise((r) => setTimeout(r, Math.min(4000, 500 * 2 ** (attempt - 1))));
    }
  }
}

/**
 * The engine only points at CRIU's log, which goes away with the container: the log's own errors
 * (but the harmless rlimit one CRIU prints whenever it lacks CAP_SYS_RESOURCE), read while it exists.
 */
function criuReason(engineMessage: string): string {
  const log = /path= ?(\S+criu-dump\.log)/.exec(engineMessage)?.[1];
  if (!log) return "";
  try {
    const errors = readFileSync(log, "utf8")
      .split("\n")
      .filter((l) => /Error \(/.test(l) && !/rlimit|Dumping FAILED|failed with -1/.test(l))
      .map((l) => l.replace(/^\([\d.]+\)\s*(\d+: )?Error \([^)]*\):\s*/, "").trim());
    return errors.length ? ` (CRIU: ${errors.slice(0, 3).join("; ")})` : "";
  } catch {
    return "";
  }
}
