import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ProfileCatalog, parseProfile, parseSize } from "../../src/agents/profiles.js";
import { profileDockerfile } from "../../src/agents/provision.js";
import { packageRoot } from "../../src/package-root.js";

const shipped = new ProfileCatalog([join(packageRoot(), "profiles")]);

test("the five shipped profiles are valid and say what they are", () => {
  assert.deepEqual(shipped.names(), ["builder", "deployer", "docker-host", "researcher", "tester"]);
  for (const name of shipped.names()) {
    const p = shipped.get(name);
    assert.equal(p.name, name);
    assert.ok(p.description.length > 10);
  }
  const builder = shipped.get("builder");
  assert.equal(builder.resources.memory, 4 * 2 ** 30);
  assert.equal(builder.resources.cpus, 2);
  assert.equal(builder.environment.CI, "true");
  assert.equal(
    shipped.get("docker-host").docker_socket,
    true,
    "only docker-host mounts the socket",
  );
  assert.ok(shipped.names().filter((n) => shipped.get(n).docker_socket).length === 1);
});

test("a bad profile names the file and the field", () => {
  const bad = (json: unknown) => () => parseProfile(JSON.stringify(json), "x.json");
  assert.throws(
    bad({ name: "x", resources: { memory: "lots" } }),
    /x\.json: resources\.memory: lots is not a size/,
  );
  assert.throws(
    bad({ name: "x", packages: ["ok", "rm -rf /"] }),
    /x\.json: packages\.1: a Debian package name/,
  );
  assert.throws(
    bad({ name: "x", files: [{ path: "relative", content: "" }] }),
    /files\.0\.path: must be an absolute path/,
  );
  assert.throws(
    bad({ name: "x", setup_tasks: [{ type: "shell", command: "x" }] }),
    /setup_tasks\.0\.type/,
  );
  assert.throws(bad({ name: "x", unknown_key: 1 }), /x\.json: \(top\)|unknown_key/);
  assert.throws(() => parseProfile("{", "y.json"), /y\.json is not JSON/);
  const dir = mkdtempSync(join(tmpdir(), "vmd-prof-"));
  writeFileSync(join(dir, "mine.json"), JSON.stringify({ name: "other" }));
  assert.throws(() => new ProfileCatalog([dir]).get("mine"), /names itself other/);
  assert.throws(() => shipped.get("astronaut"), /no profile astronaut/);
});

test("sizes: 512m, 4g, 1.5G, bytes", () => {
  assert.equal(parseSize("512m"), 512 * 2 ** 20);
  assert.equal(parseSize("4g"), 4 * 2 ** 30);
  assert.equal(parseSize("1.5G"), 1.5 * 2 ** 30);
  assert.equal(parseSize("2GiB"), 2 * 2 ** 30);
  assert.equal(parseSize(1024), 1024);
  assert.throws(() => parseSize("big"), /not a size/);
});

test("a profile's Dockerfile: packages, CA bundle, files with modes, setup tasks in exec form, then the non-root user", () => {
  const p = parseProfile(
    JSON.stringify({
      name: "t",
      packages: ["git", "curl"],
      files: { "/etc/motd": "hi" },
      setup_tasks: [{ type: "exec", command: "echo 'quoted \"x\"'" }],
    }),
    "t.json",
  );
  const df = profileDockerfile(p, "openclaw-agent-base:latest", true).split("\n");
  assert.equal(df[0], "FROM openclaw-agent-base:latest");
  assert.ok(df.includes("COPY ca.pem /etc/ssl/certs/vmdocker-extra-ca.pem"));
  assert.ok(df.some((l) => l.includes("apt-get install -y --no-install-recommends git curl")));
  assert.ok(df.includes("COPY files/0 /etc/motd"));
  assert.ok(df.includes(`RUN ["/bin/sh","-c","echo 'quoted \\"x\\"'"]`));
  assert.deepEqual(df.slice(-3), ["USER vmd", "WORKDIR /workspace", ""]);
  assert.ok(!profileDockerfile(p, "b", false).includes("ca.pem"));
});
