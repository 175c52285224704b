import { timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import { VmdError, errorBody, httpError, jsonNotFound } from "../errors.js";
import { loadOrCreateToken } from "../sys/token-file.js";
import type { HymxNode } from "./node.js";

const PID_BODY_HINT = `send a JSON body like {"pid":"<process id>"}`;

/** The admin token: configured, else made once and kept (0600) next to the node's data. */
export function adminToken(configured: string, file: string): string {
  return configured || loadOrCreateToken(file);
}

/**
 * hymx's admin API (v0.5.0) on its own port: stop (checkpoint + close), resume (restore + replay),
 * running. Unlike upstream, every call needs `Authorization: Bearer <token>`.
 */
export function buildAdmin(node: HymxNode, token: string): FastifyInstance {
  const app = Fastify({ logger: false });
  // Bodies are JSON whatever their Content-Type says (curl -d sends form encoding).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => {
    try {
      done(null, body ? JSON.parse(body as string) : {});
    } catch (err) {
      done(
        new VmdError(
          "err_invalid_params",
          `the body is not JSON (${(err as Error).message})`,
          PID_BODY_HINT,
        ),
        undefined,
      );
    }
  });
  const expected = Buffer.from(`Bearer ${token}`);
  app.addHook("onRequest", async (req, reply) => {
    const got = Buffer.from(req.headers.authorization ?? "");
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      return reply.code(401).send(errorBody("err_unauthorized", "admin token required"));
    }
  });
  // hymx's admin codes answer 400, as upstream; anything else is the node's bug (500).
  app.setErrorHandler((err, _req, reply) => {
    const { status, body } = httpError(err, () => 400);
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler(jsonNotFound);
  const pidOf = (body: unknown) => {
    const pid = (body as { pid?: unknown } | null)?.pid;
    if (typeof pid !== "string" || pid === "")
      throw new VmdError("err_invalid_params", "the body has no pid", PID_BODY_HINT);
    return pid;
  };
  app.post("/admin/vms/stop", async (req) => {
    const pid = pidOf(req.body);
    await node.stopProcess(pid);
    return { id: pid, message: "stopped" };
  });
  app.post("/admin/vms/resume", async (req) => {
    const pid = pidOf(req.body);
    await node.resumeProcess(pid);
    return { id: pid, message: "resumed" };
  });
  app.get("/admin/vms/running", async () => node.runningProcesses());
  return app;
}
