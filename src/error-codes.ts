/**
 * Every error code vmdocker answers or prints, with the HTTP status an API answers it with and a
 * default hint (what to do about it). The node answers upstream hymx's codes with 400 as hymx
 * does. A throw site may give a more specific hint; the README lists every code (a test checks).
 */
export const ERROR_CODES = {
  // hymx protocol (node HTTP API, 400 as upstream)
  err_invalid_item: [400, "send a valid ANS-104 data item (binary, as arbundles encodes it)"],
  err_unrecognized_signature_type: [400, "sign with an Ethereum (type 3) or Arweave (type 1) key"],
  err_invalid_signature: [400, "sign the item again with its owner's key; it was altered"],
  err_invalid_type: [400, "set the Type tag to Process (a spawn) or Message"],
  err_invalid_tags: [400, "send each tag name once, with a name and a value"],
  err_invalid_scheduler: [400, "set Scheduler to this node's address (GET /info)"],
  err_invalid_nonce: [400, "nonces are gap-free: the node assigns them, do not set one"],
  err_invalid_params: [400, "check the request's fields against the README"],
  err_invalid_checkpoint: [400, "restore from a checkpoint this node (its key) wrote"],
  err_invalid_private_key: [400, "give a 32-byte secp256k1 key as 64 hex digits"],
  err_invalid_public_key: [400, "give an uncompressed secp256k1 public key (0x04…)"],
  err_duplicate_item: [400, "the item is stored already: read its result instead"],
  err_sequence_too_low: [400, "a process's messages must carry rising Sequence numbers"],
  err_nonce_gap: [500, "a commit before it failed: send the message again"],
  err_process_not_found: [400, "spawn the process first, or send to the node that runs it"],
  err_process_already_exist: [400, "the process exists (or runs): use it, or spawn anew"],
  err_process_stopped: [400, "resume it: POST /admin/vms/resume"],
  err_process_not_running: [400, "restore or respawn it"],
  err_core_process_cannot_stop: [400, "the token and registry processes always run"],
  err_module_format_not_mounted: [
    400,
    "spawn a module whose Module-Format this node runs: hymx.vmdocker.v0.0.1, or one AO's loader runs (an AO WASM module from `vmdocker module build --ao --wasm FILE --module-format F`)",
  ],
  err_factory_already_mounted: [400, "mount each Module-Format once"],
  err_not_found_mod: [400, "copy its mod-<id>.json into ./mod, or build it"],
  err_checkpoint_not_found: [400, "stop the process through the admin API first"],
  err_invalid_cursor: [400, "pass back a cursor this node gave (a result's cursor field)"],
  err_invalid_limit: [400, "give limit as a whole number from 1 to the page maximum"],
  err_invalid_sort: [400, "give sort as ASC or DESC"],
  // Not hymx's (its /result answers 200 null): AO's CU answers an unknown /result with 404.
  err_result_not_found: [404, "send the message first, or wait for its apply"],
  err_message_not_found: [400, "assign a message this node holds (GET /message/<id>)"],
  err_invalid_assignment: [400, "assign a message (no spawn) to a process it was not sent to"],
  err_unauthorized_node: [400, "only a node serving the sending process may send for it"],
  err_callback_failed: [400, "make the URL reachable from the main node"],
  err_insufficient_balance: [400, "transfer more to the sender first"],
  err_insufficient_stake: [400, "stake more first"],
  err_unknown_action: [400, "send an Action the process knows"],
  err_decrypt_param_failed: [400, "encrypt to this node's Encryption-Public-Key"],
  err_body_too_large: [413, "send a smaller item, or raise maxBodyBytes"],
  err_too_many_streams: [429, "close other event streams first"],
  err_redirect: [308, "follow the Location header to the node that serves it"],
  err_instance_gone: [500, "the node revives it; read the container's logs if it repeats"],

  // APIs (admin, hub, dashboard)
  err_unauthorized: [401, "send Authorization: Bearer <token> with the right token"],
  err_forbidden: [403, "send the request from the dashboard's own page"],
  err_not_found: [404, "check the path"],
  err_unknown: [404, "check the name"],
  err_unknown_agent: [404, "docker-agent list shows the agents"],
  err_unknown_profile: [404, "docker-agent profiles lists them"],
  err_unknown_snapshot: [404, "docker-agent snapshots <name> lists them"],
  err_unknown_task: [404, "check the task id"],
  err_agent_exists: [409, "pick another name, or destroy the agent first"],
  err_agent_not_connected: [400, "see docker-agent logs and the README's troubleshooting"],
  err_agent_not_running: [400, "docker-agent start <name>"],
  err_bad_name: [400, "use lowercase letters, digits, _ . - (at most 63)"],
  err_bad_profile: [400, "fix the profile's JSON against the README"],
  err_bad_task: [400, 'send a task like {"type":"exec","command":"pwd"}'],
  err_internal: [500, "read the server's log; this is a bug if it repeats"],
  err_http: [400, "read the message; the upstream answer is quoted"],
  err_hub: [400, "read the message; the hub's answer is quoted"],
  err_node: [400, "read the message; the node's answer is quoted"],
  err_graphql: [502, "check --url: it must be a vmdocker node"],
  err_request: [400, "read the message; the node's answer is quoted"],
  err_no_admin: [503, "set adminPort in the node's config (npm start turns it on)"],
  err_no_engine: [503, "run vmdocker host setup, then restart the hub"],
  err_no_node: [503, "pass --node-url"],
  err_hub_down: [503, "start it with `vmdocker hub` (npm start starts one too), or set HUB_API"],
  err_node_down: [503, "start the node (npm start or vmdocker node), or pass --node-url"],
  err_engine_down: [503, "start that engine, or unset DOCKER_HOST so vmdocker starts its own"],
  err_redis_down: [
    503,
    "start it (vmdocker host setup starts one on 127.0.0.1:6379), or fix redisURL",
  ],

  // modules, images, runtimes, checkpoints
  err_invalid_module: [400, "rebuild it with `vmdocker module build`"],
  err_module_image_load: [500, "rebuild the module, or copy an intact mod-<id>.json"],
  err_image_id_mismatch: [500, "rebuild the module"],
  err_image_missing: [500, "build or pull it first"],
  err_image_stale: [409, "run `vmdocker images build`"],
  err_image_build: [
    500,
    "read the build output; delete the cache folder's openclaw-* and build again",
  ],
  err_bad_build: [400, "put the Dockerfile inside the context folder"],
  err_no_base_image: [400, "run vmdocker images build"],
  err_profile_build: [500, "read the build log the message names"],
  err_bad_spawn_tag: [400, "fix the spawn tag as the message says"],
  err_bad_start_command: [400, "set Start-Command in the module or the spawn"],
  err_runtime_spawn: [500, "read the container's logs"],
  err_dry_run_unsupported: [400, "this process's runtime cannot dry-run: send a signed message"],
  err_state_not_public: [400, "read the process's results instead; its state may hold secrets"],
  err_runtime_unhealthy: [500, "read the instance's logs"],
  err_runtime_exited: [500, "read the container's logs (docker logs)"],
  err_container_missing: [500, "respawn the process"],
  err_name_conflict: [500, "remove the container that holds the name"],
  err_no_port: [500, "stop some processes"],
  err_sandbox: [500, "check Docker Desktop's sandbox feature (docker sandbox --help)"],
  err_checkpoint: [500, "read the container's logs"],
  err_checkpoint_backend: [400, "restore on the same backend"],
  err_checkpoint_format: [400, "restore a checkpoint made by vmdocker"],
  err_checkpoint_memory_corrupt: [500, "respawn the process"],
  err_checkpoint_memory_missing: [
    500,
    "restore on the host that took the checkpoint, or respawn the process",
  ],
  err_checkpoint_memory_write: [
    500,
    "check the free space and the permissions of the node's checkpoint_memory folder",
  ],
  err_checkpoint_unavailable: [500, "run vmdocker host setup (CRIU and an experimental engine)"],
  err_restore: [500, "check the checkpoint and the container's logs"],
  err_workspace_archive: [500, "check the workspace folder"],
  err_engine: [500, "read the engine's message; vmdocker host doctor checks the engine"],
  err_timeout: [504, "the work may still be going on: look again later"],

  // host, configuration, command line
  err_bad_config: [400, "fix the key the message names (see the README's configuration)"],
  err_bad_docker_host: [400, "set DOCKER_HOST to unix://<path> or tcp://<host>:<port>"],
  err_bad_flag: [400, "see --help for the flag's values"],
  err_missing_key: [
    400,
    "pass --key <hex> or set VMDOCKER_PRIVATE_KEY (in the environment or .env)",
  ],
  err_no_hub_token: [400, "start the hub once (`vmdocker hub`), or pass --token / HUB_TOKEN"],
  err_no_encryption_key: [
    400,
    "use a node with an Ethereum key (its /info has Encryption-Public-Key)",
  ],
  err_no_docker_cli: [500, "install the docker CLI"],
  err_node_unreachable: [503, "start one with `vmdocker node`, or pass --url"],
  err_network: [503, "check that the main node (hymxURL) is up"],
  err_join_failed: [500, "check hymxURL, or set joinNetwork: false"],
  err_port_in_use: [500, "stop what uses it, or change it in the configuration"],
  err_criu_missing: [500, "run vmdocker host setup"],
  err_redis_missing: [500, "run vmdocker host setup"],
  err_host_command: [500, "read the command's output in the message"],
  err_host_install: [500, "run `apt-get update` and retry, or install the packages by hand"],
  // microVM bots (vm-setup, vm-ctl: CLI errors; the status is what an API would answer)
  err_bad_env: [400, "fix the variable the message names (see the README's MicroVM variables)"],
  err_bad_instance_id: [400, "use an instance id of lowercase letters, digits, _ and -"],
  err_bad_snapshot_name: [400, "use a snapshot name of letters, digits, _ . and -"],
  err_confirm: [400, "answer y, or pass --force"],
  err_instance_exists: [409, "pick another --instance, or vm-ctl destroy it first"],
  err_instance_not_found: [404, "vm-ctl list shows the instances"],
  err_snapshot_not_found: [404, "vm-ctl snapshots <id> lists them"],
  err_snapshot_unsupported: [400, "re-create the instance with vm-setup (it makes a qcow2 disk)"],
  err_snapshot: [500, "read the VMM log (vm-ctl logs <id> host)"],
  err_state_corrupt: [500, "fix or remove the state file the message names"],
  err_ip_pool_full: [409, "destroy an instance, or widen SUBNET_CIDR"],
  err_port_pool_full: [409, "destroy an instance, or change BASE_PORT"],
  err_port_taken: [409, "pick another --host-port, or stop what listens there"],
  err_needs_root: [403, "run as root, or pass --network user"],
  err_locked: [409, "wait for the other vm-setup/vm-ctl to finish"],
  err_not_running: [400, "vm-ctl start <id>"],
  err_already_running: [409, "vm-ctl stop <id> first"],
  err_no_logs: [404, "vm-ctl start <id>"],
  err_supervisor_start: [500, "read the supervisor's log in the instance's state folder"],
  err_vmm_unavailable: [
    500,
    "vm-ctl doctor says which VMM this host can run and how to install it",
  ],
  err_vmm_start: [500, "read the VMM log (vm-ctl logs <id> host)"],
  err_qmp: [500, "check that the VM is running (vm-ctl status <id>)"],
  err_firecracker_api: [500, "read the VMM log (vm-ctl logs <id> host)"],
  err_guest_unreachable: [504, "read the guest's console log (vm-ctl logs <id> guest)"],
  err_provision: [500, "read the gateway's log (vm-ctl logs <id>)"],
  err_health_timeout: [504, "read vm-ctl logs <id>; an emulated guest may need a longer --timeout"],
} as const satisfies Record<`err_${string}`, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

const known = ERROR_CODES as Record<string, readonly [number, string] | undefined>;

/** The HTTP status an API answers `code` with (a code followed by ": detail" counts as the code); 400 for unknown codes. */
export function statusOf(code: string): number {
  return known[baseCode(code)]?.[0] ?? 400;
}

/** The default hint for `code`, or undefined for a code not in the registry. */
export function hintOf(code: string): string | undefined {
  return known[baseCode(code)]?.[1];
}

/** The code without a ": detail" after it. */
function baseCode(code: string): string {
  const at = code.indexOf(":");
  return at === -1 ? code : code.slice(0, at);
}
