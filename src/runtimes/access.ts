// The owner/signer rule every runtime gets from the runtime server: a runtime declares which
// actions are owner-only or limited to allowed senders (AccessRules); the server checks each
// message's caller against the process owner and the spawn's Allowed-Senders before the runtime
// sees it.
import type { AccessRules, Caller, Meta } from "./runtime.js";

/** The spawn tag that names who besides the owner may send `senders` actions: a comma list, or `*`. */
export const ALLOWED_SENDERS_TAG = "Allowed-Senders";

/** Ethereum addresses compare without their EIP-55 case; Arweave addresses and pids as written. */
export function sameParty(a: string, b: string): boolean {
  if (!a || !b) return false;
  const norm = (x: string) => (/^0x[0-9a-fA-F]{40}$/.test(x) ? x.toLowerCase() : x);
  return norm(a) === norm(b);
}

/** The senders a spawn allows besides its owner: `*` (anyone) or a list. */
export function allowedSenders(tags: Record<string, string>): "*" | string[] {
  const raw = (tags[ALLOWED_SENDERS_TAG] ?? "").trim();
  if (raw === "*") return "*";
  return raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Checks a message against a runtime's access rules. Answers null when it may go ahead, else the
 * refusal (an `err_unauthorized: ...` line for the result's Error). Without rules everything is
 * open. An owner of "" (a node that did not say) matches nobody, so owner-only actions fail closed.
 */
export function refusal(
  rules: AccessRules | undefined,
  caller: Caller,
  allowed: "*" | string[],
  meta: Meta,
  params: Record<string, string>,
): string | null {
  if (!rules) return null;
  const action = rules.action(meta, params);
  const need = Object.hasOwn(rules.actions, action) ? rules.actions[action]! : rules.otherwise;
  if (need === "open" || sameParty(caller.sender, caller.owner)) return null;
  if (need === "senders" && (allowed === "*" || allowed.some((a) => sameParty(a, caller.sender))))
    return null;
  const who = caller.sender ? `not ${caller.sender}` : "not an unsigned dry-run";
  const also = need === "senders" ? ` and the spawn's ${ALLOWED_SENDERS_TAG}` : "";
  return `err_unauthorized: ${action} is for the process owner${also}, ${who}`;
}
