import type { Scenario } from "../lib/scenario.js";

export const agentsScenario: Scenario = {
  name: "agents",
  describe: "docker-agent create until connected, and exec round trip vs docker exec",
  unavailable: async () =>
    "the agent system (hub, docker-agent) is not built yet (issue 7), so there is nothing to measure",
  async run() {},
};
