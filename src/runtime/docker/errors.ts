import { VmdError } from "../../errors.js";

const SETUP_HINT = "start one with `vmdocker host setup`, or point DOCKER_HOST at a running engine";

export class EngineUnreachableError extends VmdError {
  constructor(where: string, why: string) {
    super("err_engine_down", `Docker engine is not answering at ${where} (${why})`, SETUP_HINT);
  }
}

export class BadDockerHostError extends VmdError {
  constructor(value: string) {
    super(
      "err_bad_docker_host",
      `DOCKER_HOST=${JSON.stringify(value)} is not an engine address`,
      "use unix:///path/to/docker.sock or tcp://HOST:PORT, or unset DOCKER_HOST",
    );
  }
}

export class ImageNotFoundError extends VmdError {
  constructor(readonly image: string) {
    super(
      "err_image_missing",
      `image ${image} is not in the engine`,
      "build it with `vmdocker images build`, load it from its module, or pull it where a registry is reachable",
    );
  }
}

export class ContainerNotFoundError extends VmdError {
  constructor(readonly container: string) {
    super(
      "err_container_missing",
      `container ${container} does not exist`,
      "list containers with `docker ps -a`",
    );
  }
}

export class NameConflictError extends VmdError {
  constructor(readonly containerName: string) {
    super(
      "err_name_conflict",
      `a container named ${containerName} already exists`,
      `remove it (docker rm -f ${containerName}) or choose another name`,
    );
  }
}

export class CheckpointUnavailableError extends VmdError {
  constructor(why: string) {
    super(
      "err_checkpoint_unavailable",
      `the engine cannot checkpoint containers: ${why}`,
      "run `vmdocker host setup` (starts dockerd --experimental and installs CRIU >= 4); `vmdocker host doctor` shows what is missing",
    );
  }
}

export class EngineError extends VmdError {
  constructor(
    readonly status: number | undefined,
    message: string,
  ) {
    super("err_engine", message, "see the engine log (`vmdocker host doctor` shows where it is)");
  }
}

interface DockerodeError {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  reason?: string;
  message?: string;
}

export interface ErrorContext {
  where: string;
  image?: string;
  container?: string;
}

/** Maps what dockerode / docker-modem throw to errors a user can act on. */
export function translateDockerError(err: unknown, ctx: ErrorContext): Error {
  if (err instanceof VmdError) return err;
  const e = (err ?? {}) as DockerodeError;
  const netCodes = [
    "ECONNREFUSED",
    "ENOENT",
    "EACCES",
    "ECONNRESET",
    "EHOSTUNREACH",
    "ETIMEDOUT",
    "ENOTFOUND",
  ];
  if (e.code && netCodes.includes(e.code)) return new EngineUnreachableError(ctx.where, e.code);
  const detail = e.json?.message ?? e.reason ?? e.message ?? String(err);
  if (e.statusCode === 404) {
    if (/no such image|image .* not found|reference does not exist/i.test(detail) && ctx.image) {
      return new ImageNotFoundError(ctx.image);
    }
    if (/no such container/i.test(detail) && ctx.container)
      return new ContainerNotFoundError(ctx.container);
    if (ctx.image && !ctx.container) return new ImageNotFoundError(ctx.image);
    if (ctx.container) return new ContainerNotFoundError(ctx.container);
  }
  if (e.statusCode === 409 && /already in use|conflict/i.test(detail) && ctx.container) {
    return new NameConflictError(ctx.container);
  }
  if (/checkpoint/i.test(detail) && /experimental|criu/i.test(detail)) {
    return new CheckpointUnavailableError(detail.trim());
  }
  return new EngineError(e.statusCode, `engine: ${detail.trim()}`);
}
