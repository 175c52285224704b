import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import type { DockerClient } from "../runtime/docker/client.js";
import {
  CRIU_OPTIONS,
  criuOptionsState,
  missingCriuOptions,
  RUNC_CRIU_CONF,
} from "./criu-options.js";
import { criuStatus } from "./criu.js";
import { apiVersionAtLeast, MIN_API_VERSION, probeEngine } from "./engine.js";
import type { StatePaths } from "./paths.js";
import { redisAnswers } from "./redis.js";
import { hasCapSysResource, ioUringDisabled } from "../sys/kernel.js";

export type CheckStatus = "ok" | "warn" | "missing";

export interface Check {
  requirement: string;
  status: CheckStatus;
  detail: string;
  fix: string;
}

const SETUP = "run `vmdocker host setup` as root";

export async function runDoctor(
  client: DockerClient,
  paths: StatePaths,
  redisPort: number,
): Promise<Check[]> {
  const [engine, criu, redis] = await Promise.all([
    probeEngine(client, paths),
    criuStatus(),
    redisAnswers(redisPort),
  ]);
  const checks: Check[] = [];
  checks.push({
    requirement: "node",
    status: Number(process.versions.node.split(".")[0]) >= 20 ? "ok" : "missing",
    detail: `Node ${process.versions.node}`,
    fix: "install Node >= 20",
  });
  checks.push(
    engine.reachable
      ? {
          requirement: "engine",
          status: "ok",
          detail: `Docker ${engine.serverVersion} at ${engine.address.display}${engine.startedByVmdocker ? " (started by vmdocker)" : ""}`,
          fix: "",
        }
      : {
          requirement: "engine",
          status: "missing",
          detail: engine.error ?? "not reachable",
          fix: SETUP,
        },
  );
  checks.push({
    requirement: "api version",
    status: !engine.reachable
      ? "missing"
      : apiVersionAtLeast(engine.apiVersion, MIN_API_VERSION)
        ? "ok"
        : "missing",
    detail: engine.reachable
      ? `Engine API ${engine.apiVersion} (need >= ${MIN_API_VERSION})`
      : "engine not reachable",
    fix: `install Docker with Engine API >= ${MIN_API_VERSION}`,
  });
  checks.push({
    requirement: "experimental",
    status: !engine.reachable ? "missing" : engine.experimental ? "ok" : "warn",
    detail: !engine.reachable
      ? "engine not reachable"
      : engine.experimental
        ? "on: the engine can checkpoint containers"
        : "off: CRIU checkpoints are off",
    fix: 'start dockerd with --experimental (or "experimental": true in daemon.json)',
  });
  checks.push({
    requirement: "criu",
    status: criu.works ? "ok" : "warn",
    detail: criu.works ? criu.detail : `${criu.detail}; full-memory checkpoints are off`,
    fix: criu.works ? "" : `${SETUP} (builds CRIU 4 from Debian's source)`,
  });
  const uring = ioUringDisabled();
  checks.push({
    requirement: "io_uring",
    status: uring === 0 ? "warn" : "ok",
    detail:
      uring === null
        ? "no io_uring switch in this kernel"
        : uring === 0
          ? "allowed for all: containers running Node cannot be CRIU-checkpointed"
          : `kernel.io_uring_disabled=${uring}: containers fall back to epoll and can be checkpointed`,
    fix: `${SETUP} (sets kernel.io_uring_disabled=1)`,
  });
  if (criu.works) {
    const options = criuOptionsState();
    checks.push({
      requirement: "criu options",
      status: options.ok ? "ok" : "warn",
      detail: options.ok
        ? `${RUNC_CRIU_CONF} has ${CRIU_OPTIONS.join(", ")}: open connections and file locks can be checkpointed`
        : missingCriuOptions(options),
      fix: options.ok
        ? ""
        : options.ours || !existsSync(RUNC_CRIU_CONF)
          ? SETUP
          : `add the lines ${options.missing.join(", ")} to ${RUNC_CRIU_CONF}`,
    });
  }
  if (criu.works && !hasCapSysResource()) {
    checks.push({
      requirement: "cap_sys_resource",
      status: "warn",
      detail:
        "vmdocker runs without CAP_SYS_RESOURCE: CRIU can only checkpoint containers whose processes run as root (criu processes run as uid 0, still with no capabilities)",
      fix: "run vmdocker with full root capabilities",
    });
  }
  checks.push(cgroupsCheck());
  checks.push(kvmCheck());
  checks.push({
    requirement: "redis",
    status: redis ? "ok" : "warn",
    detail: redis
      ? `answers on 127.0.0.1:${redisPort}`
      : `nothing answers on 127.0.0.1:${redisPort} (only the Redis store needs it)`,
    fix: redis ? "" : `${SETUP}, or start redis-server`,
  });
  for (const c of checks) if (c.status === "ok") c.fix = "";
  return checks;
}

function cgroupsCheck(): Check {
  const controllersFile = "/sys/fs/cgroup/cgroup.controllers";
  if (!existsSync(controllersFile)) {
    return {
      requirement: "cgroups",
      status: existsSync("/sys/fs/cgroup/memory") ? "ok" : "missing",
      detail: "cgroup v1",
      fix: "mount cgroups so memory, pids and cpu limits can be enforced",
    };
  }
  const have = readFileSync(controllersFile, "utf8").trim().split(/\s+/);
  const missing = ["cpu", "memory", "pids"].filter((c) => !have.includes(c));
  return {
    requirement: "cgroups",
    status: missing.length === 0 ? "ok" : "missing",
    detail:
      missing.length === 0 ? `v2 with ${have.join(", ")}` : `v2 without ${missing.join(", ")}`,
    fix: "enable the cpu, memory and pids controllers so container limits are enforced",
  };
}

function kvmCheck(): Check {
  let usable: boolean;
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    usable = true;
  } catch {
    usable = false;
  }
  return {
    requirement: "kvm",
    status: usable ? "ok" : "warn",
    detail: usable
      ? "/dev/kvm is accessible (microVMs)"
      : "no usable /dev/kvm: microVMs would need software emulation",
    fix: usable ? "" : "enable hardware virtualisation (nested KVM) for the microVM backend",
  };
}
