// The row shape of GET /vmd/processes, apart from its routes so clients (the dashboard's page)
// can use the type without the node's code.

/** One process as `GET /vmd/processes` lists it. */
export interface ProcessRow {
  pid: string;
  /** The spawn's signer. */
  owner: string;
  module: string;
  moduleFormat: string;
  /** The image a container process runs (its module's Image-Name), else the module format. */
  runtime: string;
  /** docker or sandbox for container processes; in-process for the node's own VMs. */
  backend: string;
  /** workspace or criu for container processes; state for in-process VMs. */
  checkpointKind: string;
  /** "token" / "registry" for the node's core processes. */
  core: string | null;
  nonce: number;
  /** Running on this node now; false when stopped through the admin API or not brought back. */
  running: boolean;
  /** Why its spawn failed (it runs nothing and refuses messages), else null. */
  failed: string | null;
  checkpoint: string | null;
  messagesPerMinute: number;
  /** When its last message arrived (ms since the epoch), 0 for none since the node started. */
  lastMessageAt: number;
}
