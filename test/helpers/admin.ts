import type { RunningNode } from "../../src/node/app.js";

/** Calls the node's admin API (`/admin/vms/stop|resume`) for a process, as an operator would. */
export function admin(running: RunningNode, path: string, pid: string): Promise<unknown> {
  return fetch(`${running.adminUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${running.adminToken}` },
    body: JSON.stringify({ pid }),
  }).then((r) => r.json());
}
