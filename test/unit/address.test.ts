import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  DEFAULT_SOCKET,
  parseDockerHost,
  resolveEngineAddress,
} from "../../src/runtime/docker/address.js";
import { BadDockerHostError } from "../../src/runtime/docker/errors.js";

test("DOCKER_HOST forms the engine understands are parsed", () => {
  assert.deepEqual(parseDockerHost("unix:///run/d.sock"), {
    kind: "unix",
    socketPath: "/run/d.sock",
    display: "unix:///run/d.sock",
  });
  const tcp = parseDockerHost("tcp://127.0.0.1:2375", {});
  assert.equal(tcp.kind, "tcp");
  assert.ok(
    tcp.kind === "tcp" && tcp.host === "127.0.0.1" && tcp.port === 2375 && tcp.protocol === "http",
  );
  const tls = parseDockerHost("tcp://engine.local:2376", { DOCKER_TLS_VERIFY: "1" });
  assert.ok(tls.kind === "tcp" && tls.protocol === "https");
  const v6 = parseDockerHost("tcp://[::1]:2375", {});
  assert.ok(v6.kind === "tcp" && v6.host === "::1");
});

test("a malformed DOCKER_HOST is a one-line error with the fix", () => {
  for (const bad of [
    "docker.sock",
    "unix://relative.sock",
    "tcp://host",
    "tcp://host:99999",
    "ftp://x:1",
  ]) {
    assert.throws(
      () => parseDockerHost(bad, {}),
      (err: unknown) =>
        err instanceof BadDockerHostError &&
        !err.message.includes("\n") &&
        /unix:\/\//.test(err.hint ?? ""),
      bad,
    );
  }
});

test("engine resolution: DOCKER_HOST wins, then vmdocker's socket when it exists, then the system socket", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmd-addr-"));
  const sock = join(dir, "docker.sock");
  assert.equal(resolveEngineAddress({}, sock).display, `unix://${DEFAULT_SOCKET}`);
  writeFileSync(sock, "");
  assert.equal(resolveEngineAddress({}, sock).display, `unix://${sock}`);
  assert.equal(
    resolveEngineAddress({ DOCKER_HOST: "tcp://127.0.0.1:1" }, sock).display,
    "tcp://127.0.0.1:1",
  );
});
