import type { AccessRules } from "./runtime.js";
import { normalizeAction } from "./openclaw-runtime.js";

/**
 * Who may drive an OpenClaw process: its configuration, pairing and sessions are the owner's;
 * chatting is the owner's too unless the spawn names other senders (`Allowed-Senders`, `*` for an
 * open chat); Ping is open. Anything else (unknown actions) is the owner's.
 */
export const OPENCLAW_ACCESS: AccessRules = {
  action: normalizeAction,
  actions: { Ping: "open", Chat: "senders", Query: "senders", Execute: "senders" },
  otherwise: "owner",
};
