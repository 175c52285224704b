import type { Env, Meta } from "../../protocol/hymx.js";
import { evaluateOnCopy, type Vm, type VmFactory, type VmResult } from "../contract.js";

export const TOKEN_FORMAT = "hymx.core.token.0.0.0";
const GENESIS_BALANCE = 20n * 10n ** 18n;
const GENESIS_STAKE = 10n ** 18n;

export interface TokenState {
  owner: string;
  balances: Record<string, string>;
  stakes: Record<string, string>;
}

const amount = (v: string | undefined): bigint | null => (v && /^\d+$/.test(v) ? BigInt(v) : null);

/**
 * The core token (natively, as hymx does): tAX, 12 decimals; the spawner gets 20e18 and a stake
 * of 1e18. Actions: Info, Total-Supply, Balance, Balances, Transfer, Stake, Unstake, Slash.
 */
export class TokenVm implements Vm {
  private s: TokenState;

  constructor(env: Env) {
    const owner = env.Meta["Acc-Id"];
    this.s = {
      owner,
      balances: { [owner]: GENESIS_BALANCE.toString() },
      stakes: { [owner]: GENESIS_STAKE.toString() },
    };
  }

  balanceOf(acc: string): bigint {
    return BigInt(this.s.balances[acc] ?? "0");
  }

  stakeOf(acc: string): bigint {
    return BigInt(this.s.stakes[acc] ?? "0");
  }

  private add(map: Record<string, string>, acc: string, delta: bigint) {
    const next = BigInt(map[acc] ?? "0") + delta;
    if (next === 0n) delete map[acc];
    else map[acc] = next.toString();
  }

  apply(from: string, meta: Meta): Promise<VmResult> {
    return this.run(from, meta, true);
  }

  /** A dry-run reads as `from` (AO's Owner), but the owner's Slash is never granted on it. */
  dryRun(from: string, meta: Meta): Promise<VmResult> {
    return evaluateOnCopy(this, () => this.run(from, meta, false));
  }

  publicState(): Promise<string> {
    return this.checkpoint();
  }

  /** `signed`: `from` was established from a signature (false in a dry-run). */
  private async run(from: string, meta: Meta, signed: boolean): Promise<VmResult> {
    const p = meta.Params;
    switch (meta.Action) {
      case "Info":
        return {
          Data: JSON.stringify({
            Name: "tAX",
            Ticker: "tAX",
            Denomination: "12",
            Owner: this.s.owner,
          }),
        };
      case "Total-Supply": {
        const all = [...Object.values(this.s.balances), ...Object.values(this.s.stakes)].reduce(
          (a, b) => a + BigInt(b),
          0n,
        );
        return { Data: all.toString() };
      }
      case "Balance":
        return { Data: this.balanceOf(p.Recipient || p.Target || from).toString() };
      case "Balances":
        return { Data: JSON.stringify(this.s.balances) };
      case "Transfer": {
        const q = amount(p.Quantity);
        if (!p.Recipient || q === null)
          return {
            Error: "err_invalid_params: Transfer needs Recipient and a Quantity in whole units",
          };
        if (this.balanceOf(from) < q) return { Error: "err_insufficient_balance" };
        this.add(this.s.balances, from, -q);
        this.add(this.s.balances, p.Recipient, q);
        return {
          Messages: [
            {
              Target: from,
              Tags: [
                { name: "Action", value: "Debit-Notice" },
                { name: "Recipient", value: p.Recipient },
                { name: "Quantity", value: q.toString() },
              ],
            },
            {
              Target: p.Recipient,
              Tags: [
                { name: "Action", value: "Credit-Notice" },
                { name: "Sender", value: from },
                { name: "Quantity", value: q.toString() },
              ],
            },
          ],
        };
      }
      case "Stake": {
        const q = amount(p.Quantity);
        if (q === null) return { Error: "err_invalid_params: Stake needs a Quantity" };
        if (this.balanceOf(from) < q) return { Error: "err_insufficient_balance" };
        this.add(this.s.balances, from, -q);
        this.add(this.s.stakes, from, q);
        const messages = p.Registry
          ? [
              {
                Target: p.Registry,
                Tags: [
                  { name: "Action", value: "Register" },
                  { name: "Acc-Id", value: p["Acc-Id"] || from },
                  { name: "Name", value: p.Name ?? "" },
                  { name: "Desc", value: p.Desc ?? "" },
                  { name: "URL", value: p.URL ?? "" },
                ].filter((t) => t.value !== ""),
              },
            ]
          : [];
        return { Data: this.stakeOf(from).toString(), Messages: messages };
      }
      case "Unstake": {
        const q = amount(p.Quantity) ?? this.stakeOf(from);
        if (this.stakeOf(from) < q) return { Error: "err_insufficient_stake" };
        this.add(this.s.stakes, from, -q);
        this.add(this.s.balances, from, q);
        const messages = p.Registry
          ? [
              {
                Target: p.Registry,
                Tags: [
                  { name: "Action", value: "Unregister" },
                  { name: "Acc-Id", value: from },
                ],
              },
            ]
          : [];
        return { Data: this.stakeOf(from).toString(), Messages: messages };
      }
      case "Slash": {
        if (!signed || from !== this.s.owner) return { Error: "err_unauthorized" };
        const q = amount(p.Quantity);
        if (!p["Acc-Id"] || q === null)
          return { Error: "err_invalid_params: Slash needs Acc-Id and Quantity" };
        const cut = q > this.stakeOf(p["Acc-Id"]) ? this.stakeOf(p["Acc-Id"]) : q;
        this.add(this.s.stakes, p["Acc-Id"], -cut);
        return { Data: cut.toString() };
      }
      default:
        return { Error: `err_unknown_action: ${meta.Action || "(none)"}` };
    }
  }

  async checkpoint(): Promise<string> {
    return JSON.stringify(this.s);
  }

  async restore(data: string): Promise<void> {
    this.s = JSON.parse(data) as TokenState;
  }

  async close(): Promise<void> {}
}

export const tokenFactory: VmFactory = async (env) => new TokenVm(env);
