import { engineClient } from "../host/engine.js";
import { resolveStateDir, statePaths, type StatePaths } from "../host/paths.js";
import type { DockerClient } from "../runtime/docker/client.js";

/** What every command needs: where state lives and how to reach the engine. */
export interface CliContext {
  paths: StatePaths;
  client(): DockerClient;
}

export function cliContext(stateDir: string | undefined): CliContext {
  const env = stateDir ? { ...process.env, VMDOCKER_HOME: stateDir } : process.env;
  const paths = statePaths(resolveStateDir(env));
  return { paths, client: () => engineClient(paths, env) };
}
