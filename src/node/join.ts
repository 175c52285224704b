import type { Logger } from "../log.js";
import { VmdError } from "../errors.js";
import { DataItem } from "../protocol/data-item.js";
import { messageTags } from "../protocol/hymx.js";
import type { Signer } from "../protocol/signers.js";
import { RemoteNetwork } from "./network.js";

/** The stake a node needs on the main node's token to be registered (hymx: 1e12). */
export const MIN_STAKE = 10n ** 12n;

async function call(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw new VmdError(
      "err_join_failed",
      `the main node at ${new URL(url).origin} does not answer (${(err as Error).message})`,
      "check hymxURL, or set joinNetwork: false",
    );
  }
}

/**
 * hymx's joinNetwork: the main node (hymxURL) checks it can reach us, we stake on its token when
 * our stake is below 1e12 (the token then registers us with its registry), and from then on its
 * registry tells us who serves which process.
 */
export async function joinNetwork(opts: {
  hymxURL: string;
  nodeURL: string;
  name: string;
  desc: string;
  signer: Signer;
  log: Logger;
}): Promise<RemoteNetwork> {
  const main = opts.hymxURL.replace(/\/+$/, "");
  const me = opts.signer.address;
  const cb = await call(
    `${main}/callback?url=${encodeURIComponent(`${opts.nodeURL.replace(/\/+$/, "")}/info`)}`,
  );
  if (!cb.ok)
    throw new VmdError(
      "err_join_failed",
      `the main node cannot reach this node at ${opts.nodeURL}`,
      "set nodeURL to an address the main node can reach",
    );
  const info = (await (await call(`${main}/info`)).json()) as { Token?: string; Registry?: string };
  if (!info.Token || !info.Registry)
    throw new VmdError(
      "err_join_failed",
      `${main} has no token or registry`,
      "point hymxURL at a main node",
    );
  const stake = BigInt((await (await call(`${main}/stakeOf/${me}`)).text()).trim() || "0");
  if (stake < MIN_STAKE) {
    const item = DataItem.sign(
      {
        target: info.Token,
        tags: [
          { name: "SDK-Timestamp", value: String(Date.now() * 1e6) },
          ...messageTags({
            action: "Stake",
            params: [
              { name: "Quantity", value: (MIN_STAKE - stake).toString() },
              { name: "Registry", value: info.Registry },
              { name: "Acc-Id", value: me },
              { name: "Name", value: opts.name },
              { name: "Desc", value: opts.desc },
              { name: "URL", value: opts.nodeURL },
            ].filter((t) => t.value !== ""),
          }),
        ],
      },
      opts.signer,
    );
    const sent = await call(`${main}/`, { method: "POST", body: item.encode() });
    if (!sent.ok)
      throw new VmdError(
        "err_join_failed",
        `the main node refused our Stake: ${await sent.text()}`,
        "check the node wallet",
      );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = (await (await call(`${main}/result/${info.Token}/${item.id}`)).json()) as {
        Error?: string;
      } | null;
      if (r?.Error)
        throw new VmdError(
          "err_join_failed",
          `staking ${MIN_STAKE - stake} failed: ${r.Error}`,
          `fund the node wallet ${me} with tAX on the main node's token`,
        );
      if (r) break;
      if (Date.now() > deadline)
        throw new VmdError(
          "err_join_failed",
          "the Stake message got no result",
          "check the main node's log",
        );
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  const deadline = Date.now() + 30_000;
  while (!(await (await call(`${main}/node/${me}`)).json())) {
    if (Date.now() > deadline)
      throw new VmdError(
        "err_join_failed",
        "the main node's registry never listed this node",
        "check the main node's log",
      );
    await new Promise((res) => setTimeout(res, 50));
  }
  opts.log.info(`joined the network of ${main} (token ${info.Token}, registry ${info.Registry})`);
  return new RemoteNetwork(main, { Token: info.Token, Registry: info.Registry });
}

/** hymx unstakes on shutdown: the main token returns the stake and unregisters this node. */
export async function leaveNetwork(
  network: RemoteNetwork,
  signer: Signer,
  log: Logger,
): Promise<void> {
  const item = DataItem.sign(
    {
      target: network.tokenPid(),
      tags: [
        { name: "SDK-Timestamp", value: String(Date.now() * 1e6) },
        ...messageTags({
          action: "Unstake",
          params: [{ name: "Registry", value: network.registryPid() }],
        }),
      ],
    },
    signer,
  );
  const res = await fetch(`${network.mainUrl}/`, {
    method: "POST",
    body: item.encode(),
    signal: AbortSignal.timeout(5000),
  }).catch(() => null);
  if (res?.ok) log.info(`left the network of ${network.mainUrl} (unstaked)`);
  else log.warn(`could not unstake from ${network.mainUrl}`);
}
