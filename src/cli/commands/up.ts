import { join } from "node:path";
import type { Command } from "commander";
import { clientSigner } from "../../client/keys.js";
import { debianMirror } from "../../sys/apt.js";
import { redisPort } from "../../host/redis.js";
import { setupHost } from "../../host/setup.js";
import { buildModule } from "../../module/build.js";
import { listModuleFiles } from "../../module/files.js";
import { inspectModuleFile } from "../../module/inspect.js";
import { silentProgress } from "../../progress.js";
import type { DockerClient } from "../../runtime/docker/client.js";
import { IMAGES, ImageBuilder, RUNTIME_START_COMMAND } from "../../runtime/images/builder.js";
import type { CliContext } from "../context.js";
import { terminalProgress } from "../progress.js";
import { DEFAULT_HTTP_PORT, DEFAULT_WS_PORT } from "../../agents/hub/start.js";
import { DEFAULT_DASHBOARD_PORT } from "../../dashboard/server.js";
import type { NodeConfig } from "../../node/config.js";
import { formatError } from "../output.js";
import { launchHub } from "./hub.js";
import { runNode } from "./node.js";

/** The test runtime's module in ./mod: reused when one for the current image exists, else built. */
async function testModule(client: DockerClient, keyFile: string): Promise<string> {
  const image = await client.inspectImage(IMAGES["runtime-test"]);
  for (const file of listModuleFiles(process.cwd())) {
    const m = await inspectModuleFile(file);
    if (m.tags.some((t) => t.name === "Image-ID" && t.value === image?.Id)) return m.id;
  }
  const { signer } = clientSigner(undefined, keyFile);
  const built = await buildModule(
    client,
    {
      source: { mode: "pull", image: IMAGES["runtime-test"] },
      signer,
      outDir: join(process.cwd(), "mod"),
      startCommand: RUNTIME_START_COMMAND,
    },
    silentProgress,
  );
  return built.id;
}

/** The README's main command: everything a node needs, set up and built, then the node itself. */
export function registerUp(program: Command, ctx: () => CliContext): void {
  program
    .command("up")
    .description(
      "set up this host, build the images and the test module, and run the node (and the agent hub) in the foreground",
    )
    .option("--no-criu", "do not build CRIU 4 when criu check fails")
    .option("--no-hub", "do not start the agent hub (docker-agent's) next to the node")
    .option(
      "--dashboard-port <port>",
      "the dashboard's port (env HUB_DASHBOARD_PORT)",
      process.env.HUB_DASHBOARD_PORT ?? String(DEFAULT_DASHBOARD_PORT),
    )
    .option("--no-dashboard", "do not serve the dashboard")
    .option(
      "-c, --config <file>",
      "config.yaml for the node (default: built-in defaults, port :8080)",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  sudo vmdocker up                   # node 127.0.0.1:8080, hub 9090/9091, dashboard http://127.0.0.1:9092 (URL printed)\n  vmdocker up -c config.yaml\n  vmdocker up --dashboard-port 9192  # the dashboard on another port\n  vmdocker up --no-dashboard",
    )
    .action(
      async (opts: {
        criu: boolean;
        hub: boolean;
        dashboard: boolean;
        dashboardPort: string;
        config?: string;
      }) => {
        const c = ctx();
        const progress = terminalProgress();
        const report = await setupHost(
          c.paths,
          { criu: opts.criu, redis: false, redisPort: redisPort() },
          progress,
        );
        await new ImageBuilder(
          report.client,
          { mirror: debianMirror(), cacheDir: c.paths.cache },
          progress,
        ).buildAll();
        const task = progress.task("test module");
        const moduleId = await testModule(report.client, join(c.paths.root, "client-key.hex"));
        task.done(`mod/mod-${moduleId}.json`);
        console.log(
          `\nThe host is ready: engine at ${report.client.address.display}, full-memory checkpoints ${report.checkpointsOn ? "on" : "OFF"}.`,
        );
        const hub = opts.hub
          ? await launchHub(
              {
                wsPort: process.env.HUB_WS_PORT ?? String(DEFAULT_WS_PORT),
                httpPort: process.env.HUB_HTTP_PORT ?? String(DEFAULT_HTTP_PORT),
                dashboard: opts.dashboard,
                dashboardPort: opts.dashboardPort,
              },
              c.paths,
              report.client,
              (l) => console.log(l),
            ).catch((err: unknown) => {
              console.log(`warning: the agent hub did not start: ${formatError(err)}`);
              return undefined;
            })
          : undefined;
        // The admin API (stop/resume, used by the dashboard) on loopback unless the config places it.
        const withAdmin = (cfg: NodeConfig) =>
          cfg.adminPort ? cfg : { ...cfg, adminPort: "127.0.0.1:0" };
        await runNode(
          opts.config,
          "normal",
          report.client,
          (running) => {
            hub?.dashboard?.setNode({
              url: running.url,
              adminUrl: running.adminUrl,
              adminToken: running.adminToken,
            });
            const u = `--url ${running.url}`;
            console.log(
              [
                `\nThe node is serving ${running.url} (Ctrl-C stops it). Next, from another terminal:`,
                `  PID=$(vmdocker spawn --module ${moduleId} --wait ${u})`,
                `  vmdocker send $PID --action Ping --wait ${u}`,
                `  vmdocker send $PID --action Echo --data hello --wait ${u}`,
                `  vmdocker results $PID ${u}`,
                ...(hub
                  ? [
                      ...(hub.dashboard
                        ? [
                            `Dashboard: ${hub.dashboard.url} (sign in with the token in ${process.env.HUB_TOKEN ? "HUB_TOKEN" : c.paths.hub.tokenFile})`,
                          ]
                        : []),
                      `Agents (hub API ${hub.apiURL}):`,
                      `  docker-agent create my-builder --profile builder`,
                      `  docker-agent exec my-builder "node --version"`,
                    ]
                  : []),
              ].join("\n"),
            );
          },
          withAdmin,
        );
        await hub?.close();
      },
    );
}
