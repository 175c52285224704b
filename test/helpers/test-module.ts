import { join } from "node:path";
import { buildModule } from "../../src/module/build.js";
import { silentProgress } from "../../src/progress.js";
import { EthereumSigner } from "../../src/protocol/signers.js";
import type { DockerClient } from "../../src/runtime/docker/client.js";
import { IMAGES, RUNTIME_START_COMMAND } from "../../src/runtime/images/builder.js";
import { CLIENT_KEY } from "./echo-vm.js";

/** The `test` runtime's module (vmdocker/runtime-test in a signed item) written to `<base>/mod`. */
export function buildTestModule(docker: DockerClient, base: string) {
  return buildModule(
    docker,
    {
      source: { mode: "pull", image: IMAGES["runtime-test"] },
      signer: new EthereumSigner(CLIENT_KEY),
      outDir: join(base, "mod"),
      startCommand: RUNTIME_START_COMMAND,
    },
    silentProgress,
  );
}
