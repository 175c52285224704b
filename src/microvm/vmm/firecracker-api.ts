// Firecracker's REST API over its Unix socket (swagger `firecracker.yaml`): JSON bodies, 204 on
// success, `{"fault_message": ...}` with 400 (or 5xx) on failure.
import { request } from "node:http";
import { VmdError } from "../../errors.js";

export interface FirecrackerAnswer {
  status: number;
  body: unknown;
}

/**
 * One API call. Resolves for 2xx; otherwise throws with Firecracker's fault message.
 * @throws VmdError err_firecracker_api `<METHOD> <path>: <fault_message>`
 */
export function firecrackerCall(
  socket: string,
  method: "GET" | "PUT" | "PATCH",
  path: string,
  body?: unknown,
  timeoutMs = 30_000,
): Promise<FirecrackerAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        method,
        path,
        headers: {
          accept: "application/json",
          ...(payload
            ? {
                "content-type": "application/json",
                "content-length": Buffer.byteLength(payload),
              }
            : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve({ status, body: parsed });
          const fault =
            (parsed as { fault_message?: string } | undefined)?.fault_message ??
            (text || "no body");
          reject(
            new VmdError(
              "err_firecracker_api",
              `Firecracker refused ${method} ${path} (HTTP ${status}): ${fault}`,
              "read the VMM log (`vm-ctl logs <id> host`)",
            ),
          );
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on("error", (err) =>
      reject(
        new VmdError(
          "err_firecracker_api",
          `Firecracker's API socket ${socket}: ${err.message}`,
          "check that the VM is running (`vm-ctl status <id>`)",
        ),
      ),
    );
    req.end(payload);
  });
}
