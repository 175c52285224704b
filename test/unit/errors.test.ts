import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CheckpointUnavailableError,
  ContainerNotFoundError,
  EngineError,
  EngineUnreachableError,
  ImageNotFoundError,
  NameConflictError,
  translateDockerError,
} from "../../src/runtime/docker/errors.js";

const where = "unix:///x.sock";

test("engine failures become typed errors with a hint", () => {
  const down = translateDockerError(Object.assign(new Error("connect"), { code: "ECONNREFUSED" }), {
    where,
  });
  assert.ok(down instanceof EngineUnreachableError);
  assert.match(down.message, /not answering at unix:\/\/\/x.sock \(ECONNREFUSED\)/);
  assert.match(down.hint ?? "", /vmdocker host setup/);

  const img = translateDockerError(
    { statusCode: 404, json: { message: "No such image: a:b" } },
    { where, image: "a:b" },
  );
  assert.ok(img instanceof ImageNotFoundError && img.image === "a:b");

  const ctr = translateDockerError(
    { statusCode: 404, json: { message: "No such container: c1" } },
    { where, container: "c1" },
  );
  assert.ok(ctr instanceof ContainerNotFoundError);

  const conflict = translateDockerError(
    { statusCode: 409, json: { message: 'Conflict. The container name "/c1" is already in use' } },
    { where, container: "c1" },
  );
  assert.ok(conflict instanceof NameConflictError);
  assert.match(conflict.hint ?? "", /docker rm -f c1/);

  const cp = translateDockerError(
    { statusCode: 500, json: { message: "checkpoint failed: criu not found" } },
    { where },
  );
  assert.ok(cp instanceof CheckpointUnavailableError);

  const other = translateDockerError(
    { statusCode: 500, json: { message: "disk full" } },
    { where },
  );
  assert.ok(
    other instanceof EngineError && other.status === 500 && /disk full/.test(other.message),
  );
});
