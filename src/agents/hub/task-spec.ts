import { z } from "zod";
import { VmdError } from "../../errors.js";
import { TASK_TYPES } from "../../runtimes/agent/executor.js";
import type { TaskSpec } from "../../runtimes/agent/wire.js";

const common = {
  timeoutMs: z.number().int().positive().optional(),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
};
const path = z.string().min(1, "a path relative to /workspace");

/** What each task type the agent runs needs (runtimes/agent/executor.ts `startTask`). */
const BY_TYPE: Record<(typeof TASK_TYPES)[number], z.ZodType<Omit<TaskSpec, "id">>> = {
  exec: z
    .object({ type: z.literal("exec"), command: z.string().min(1, "a shell command"), ...common })
    .catchall(z.unknown()),
  write_file: z
    .object({ type: z.literal("write_file"), path, content: z.string(), ...common })
    .catchall(z.unknown()),
  read_file: z.object({ type: z.literal("read_file"), path, ...common }).catchall(z.unknown()),
};

/**
 * Checks a task a client posts (untrusted JSON) against its type's required fields: `exec`
 * {command}, `write_file` {path, content}, `read_file` {path}, each with optional `timeoutMs`
 * (ms), `cwd`, `env`. Returns it as the hub queues it; throws err_bad_task naming the field.
 */
export function parseTaskSpec(body: unknown): Omit<TaskSpec, "id"> {
  const type = (body as { type?: unknown } | null)?.type;
  const schema = typeof type === "string" ? BY_TYPE[type as keyof typeof BY_TYPE] : undefined;
  if (!schema || !Object.hasOwn(BY_TYPE, type as string)) {
    throw new VmdError(
      "err_bad_task",
      typeof type === "string" && type
        ? `unknown task type ${type} (known: ${TASK_TYPES.join(", ")})`
        : `a task needs a type (${TASK_TYPES.join(", ")})`,
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new VmdError(
      "err_bad_task",
      `the ${type as string} task's ${issue.path.join(".") || "body"}: ${issue.message}`,
    );
  }
  return parsed.data;
}
