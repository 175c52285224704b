import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse } from "yaml";
import { AGENT_NETWORK, containerName, volumeName } from "../../src/agents/manager.js";
import { packageRoot } from "../../src/package-root.js";

test("docker-compose.yml names things as docker-agent does and keeps the hardening", () => {
  const doc = parse(readFileSync(join(packageRoot(), "docker-compose.yml"), "utf8")) as {
    services: Record<string, Record<string, unknown>>;
    networks: Record<string, { name: string }>;
    volumes: Record<string, { name: string }>;
  };
  const svc = doc.services["agent-builder-1"]!;
  assert.equal(svc.container_name, containerName("builder-1"));
  const env = svc.environment as Record<string, string>;
  assert.deepEqual(Object.keys(env).sort(), ["AGENT_ID", "AGENT_TOKEN", "HUB_URL"]);
  assert.equal(env.HUB_URL, "ws://host.docker.internal:9090");
  assert.deepEqual(svc.extra_hosts, ["host.docker.internal:host-gateway"]);
  assert.equal(svc.read_only, true);
  assert.deepEqual(svc.cap_drop, ["ALL"]);
  assert.deepEqual(svc.security_opt, ["no-new-privileges:true"]);
  assert.deepEqual(svc.volumes, [`${volumeName("builder-1")}:/workspace`]);
  assert.equal(doc.networks["openclaw-agents"]!.name, AGENT_NETWORK);
  assert.equal(doc.volumes[volumeName("builder-1")]!.name, volumeName("builder-1"));
});
