// A stand-in for the `firecracker` binary, which cannot run here (no KVM, not packaged): started
// as `fake-firecracker --api-sock PATH --id ID`, it serves Firecracker's REST API on the Unix
// socket the way its swagger (firecracker.yaml) describes — 204 on success, 400 with
// `{"fault_message": ...}` on bad bodies and on calls the VM's state forbids (pre-boot-only calls
// after InstanceStart, snapshots of a VM that is not paused, /snapshot/load after configuration) —
// and records every call as a JSON line in $FAKE_FC_LOG. $FAKE_FC_FAIL="PUT /boot-source" makes
// that call fail as Firecracker would. Ctrl-Alt-Del makes it exit, as Firecracker does when the
// guest resets. The guest itself is not emulated.
import { existsSync, appendFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const args = process.argv.slice(2);
const sock = args[args.indexOf("--api-sock") + 1];
const id = args.includes("--id") ? args[args.indexOf("--id") + 1] : "anonymous-instance";
if (!sock) {
  console.error("fake-firecracker: --api-sock is required");
  process.exit(1);
}
const LOG = process.env.FAKE_FC_LOG;
const FAIL = process.env.FAKE_FC_FAIL;

type State = "Not started" | "Running" | "Paused";
let state: State = "Not started";
let configured = false;
const config: { boot?: Record<string, unknown>; machine?: Record<string, unknown> } = {};

class Fault extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function need(body: Record<string, unknown>, field: string, type: "string" | "number" | "boolean") {
  const v = body[field];
  if (v === undefined) throw new Fault(`missing field \`${field}\``);
  if (typeof v !== type || (type === "number" && !Number.isInteger(v)))
    throw new Fault(
      `invalid type for \`${field}\`: expected ${type === "number" ? "integer" : type}`,
    );
}

function preBoot(what: string) {
  if (state !== "Not started")
    throw new Fault(
      `The requested operation is not supported after starting the microVM. (${what})`,
    );
  configured = true;
}

function handle(method: string, path: string, body: unknown): { status: number; json?: unknown } {
  const b = isObj(body) ? body : {};
  if (method === "GET" && path === "/")
    return {
      status: 200,
      json: { app_name: "Firecracker", id, state, vmm_version: "1.10.1-fake" },
    };
  if (method === "GET" && path === "/version")
    return { status: 200, json: { firecracker_version: "1.10.1-fake" } };
  if (method !== "GET" && !isObj(body)) throw new Fault("Request body is not a JSON object");
  if (method === "PUT" && path === "/machine-config") {
    preBoot("machine-config");
    need(b, "vcpu_count", "number");
    need(b, "mem_size_mib", "number");
    if ((b.vcpu_count as number) < 1 || (b.vcpu_count as number) > 32)
      throw new Fault(
        "The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.",
      );
    config.machine = b;
    return { status: 204 };
  }
  if (method === "PUT" && path === "/boot-source") {
    preBoot("boot-source");
    need(b, "kernel_image_path", "string");
    if (!existsSync(b.kernel_image_path as string))
      throw new Fault(`The kernel file cannot be opened: No such file or directory (os error 2)`);
    if (b.initrd_path !== undefined && !existsSync(b.initrd_path as string))
      throw new Fault(
        `The initrd file cannot be opened due to invalid path or invalid permissions.`,
      );
    config.boot = b;
    return { status: 204 };
  }
  const drive = /^\/drives\/([^/]+)$/.exec(path);
  if (method === "PUT" && drive) {
    preBoot("drives");
    need(b, "drive_id", "string");
    need(b, "is_root_device", "boolean");
    if (b.drive_id !== drive[1])
      throw new Fault("The id from the path does not match the id from the body!");
    need(b, "path_on_host", "string");
    need(b, "is_read_only", "boolean");
    if (!existsSync(b.path_on_host as string))
      throw new Fault(`Unable to create the block device: No such file or directory (os error 2)`);
    return { status: 204 };
  }
  const nic = /^\/network-interfaces\/([^/]+)$/.exec(path);
  if (method === "PUT" && nic) {
    preBoot("network-interfaces");
    need(b, "iface_id", "string");
    need(b, "host_dev_name", "string");
    if (b.iface_id !== nic[1])
      throw new Fault("The id from the path does not match the id from the body!");
    return { status: 204 };
  }
  if (method === "PUT" && path === "/entropy") {
    preBoot("entropy");
    return { status: 204 };
  }
  if (method === "PUT" && path === "/actions") {
    need(b, "action_type", "string");
    if (b.action_type === "InstanceStart") {
      if (state !== "Not started") throw new Fault("The microVM is already running.");
      if (!config.boot) throw new Fault("Cannot start microvm without kernel configuration.");
      state = "Running";
      return { status: 204 };
    }
    if (b.action_type === "SendCtrlAltDel") {
      if (state !== "Running") throw new Fault("The microVM is not running.");
      // The guest resets; Firecracker exits with it.
      setTimeout(() => shutdown(0), 100);
      return { status: 204 };
    }
    if (b.action_type === "FlushMetrics") return { status: 204 };
    throw new Fault(
      `unknown variant \`${String(b.action_type)}\`, expected one of \`FlushMetrics\`, \`InstanceStart\`, \`SendCtrlAltDel\``,
    );
  }
  if (method === "PATCH" && path === "/vm") {
    need(b, "state", "string");
    if (state === "Not started") throw new Fault("The microVM has not been started.");
    if (b.state === "Paused") state = "Paused";
    else if (b.state === "Resumed") state = "Running";
    else
      throw new Fault(`unknown variant \`${String(b.state)}\`, expected \`Paused\` or \`Resumed\``);
    return { status: 204 };
  }
  if (method === "PUT" && path === "/snapshot/create") {
    need(b, "snapshot_path", "string");
    need(b, "mem_file_path", "string");
    if (b.snapshot_type !== undefined && b.snapshot_type !== "Full" && b.snapshot_type !== "Diff")
      throw new Fault("invalid snapshot_type");
    if (state !== "Paused")
      throw new Fault("Cannot create a snapshot of a microVM that is not paused.");
    writeFileSync(
      b.snapshot_path as string,
      JSON.stringify({ id, machine: config.machine, boot: config.boot }),
    );
    writeFileSync(b.mem_file_path as string, Buffer.alloc(4096, 7));
    return { status: 204 };
  }
  if (method === "PUT" && path === "/snapshot/load") {
    if (state !== "Not started" || configured)
      throw new Fault(
        "Loading a microVM snapshot not allowed after configuring boot-specific resources.",
      );
    need(b, "snapshot_path", "string");
    const backend = b.mem_backend;
    if ((backend === undefined) === (b.mem_file_path === undefined))
      throw new Fault("Either `mem_backend` or `mem_file_path` must be present, and not both.");
    if (isObj(backend)) {
      need(backend, "backend_type", "string");
      need(backend, "backend_path", "string");
      if (!existsSync(backend.backend_path as string))
        throw new Fault("Cannot open the memory file: No such file or directory (os error 2)");
    }
    if (!existsSync(b.snapshot_path as string))
      throw new Fault("Cannot open snapshot file: No such file or directory (os error 2)");
    state = b.resume_vm === true ? "Running" : "Paused";
    return { status: 204 };
  }
  return {
    status: 400,
    json: { fault_message: `Invalid request method and/or path: ${method} ${path}.` },
  };
}

function record(entry: Record<string, unknown>) {
  if (LOG) appendFileSync(LOG, `${JSON.stringify(entry)}\n`);
}

const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let raw = "";
  req.setEncoding("utf8");
  req.on("data", (c: string) => (raw += c));
  req.on("end", () => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    let body: unknown = undefined;
    let answer: { status: number; json?: unknown };
    try {
      body = raw ? JSON.parse(raw) : undefined;
      if (FAIL === `${method} ${path}`) throw new Fault(`injected failure of ${method} ${path}`);
      answer = handle(method, path, body);
    } catch (err) {
      answer = {
        status: 400,
        json: {
          fault_message:
            err instanceof SyntaxError ? `Invalid JSON: ${err.message}` : (err as Error).message,
        },
      };
    }
    record({ method, path, body: body ?? null, status: answer.status });
    if (answer.json === undefined) {
      res.writeHead(answer.status);
      return res.end();
    }
    const text = JSON.stringify(answer.json);
    res.writeHead(answer.status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  });
});

function shutdown(code: number) {
  server.close();
  rmSync(sock!, { force: true });
  process.exit(code);
}

process.on("SIGTERM", () => shutdown(0));
rmSync(sock, { force: true });
server.listen(sock, () => console.log(`fake firecracker ${id} on ${sock}`));
