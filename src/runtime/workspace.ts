import { chmodSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

// Upstream also makes `.openclaw/` and `.openclaw/workspace/` here. We leave them to the runtime
// inside, so they belong to the container's user: OpenClaw chmods its state folder and fails on
// one the host owns.
const DIRS = [".", "workspace", ".home", ".tmp", ".xdg/config", ".xdg/cache", ".xdg/state"];

/** The per-process workspace `<root>/sandbox_workspace/<pid>`: the only place a runtime may write. */
export function workspacePath(root: string, pid: string): string {
  return join(resolve(root), "sandbox_workspace", pid);
}

/**
 * Creates the layout and returns the path. The workspace's folders are 0777, so whatever user the
 * image runs as can write them through its bind mount; the folder that holds all workspaces is
 * 0700 (the node's user only), so no other user of the host can reach one. A bind mount does not
 * need its parent folders to be searchable inside the container.
 */
export function prepareWorkspace(ws: string): string {
  const parent = dirname(resolve(ws));
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  chmodSync(parent, 0o700);
  for (const d of DIRS) {
    const p = join(ws, d);
    mkdirSync(p, { recursive: true });
    chmodSync(p, 0o777);
  }
  return ws;
}

/** The workspace env contract (spec §3.7); a variable already given explicitly keeps its value. */
export function workspaceEnv(ws: string, explicit: Record<string, string>): Record<string, string> {
  const state = join(ws, ".openclaw");
  const defaults: Record<string, string> = {
    OPENCLAW_HOME: ws,
    OPENCLAW_STATE_DIR: state,
    OPENCLAW_CONFIG_PATH: join(state, "openclaw.json"),
    OPENCLAW_AGENT_WORKSPACE: join(state, "workspace"),
    VMDOCKER_RUNTIME_WORKSPACE: ws,
    VMDOCKER_RUNTIME_HOME: join(ws, ".home"),
    VMDOCKER_AGENT_WORKSPACE: join(ws, "workspace"),
    HOME: join(ws, ".home"),
    TMPDIR: join(ws, ".tmp"),
    XDG_CONFIG_HOME: join(ws, ".xdg", "config"),
    XDG_CACHE_HOME: join(ws, ".xdg", "cache"),
    XDG_STATE_HOME: join(ws, ".xdg", "state"),
  };
  return { ...defaults, ...explicit };
}
