import type { BotsView as Bots } from "../../bots.js";
import { ago } from "../../format.js";
import { useLiveQuery, useNow } from "../hooks";
import { Empty, Pill, kindOf } from "../ui";

export function BotsView() {
  const { data } = useLiveQuery<Bots>("/api/bots", (e) => e === "bots");
  const now = useNow(5000);
  if (!data) return <p class="muted">Loading…</p>;
  return (
    <section>
      <h2>MicroVM bots</h2>
      {!data.available ? (
        <Empty title="No microVM bots here yet" testid="bots-empty">
          <p>
            Bots are OpenClaw gateways, each in its own microVM, made with <code>vm-setup</code> and
            managed with <code>vm-ctl</code>. This build has no <code>vm-ctl</code>: once it does,
            every bot it lists (<code>vm-ctl list --json</code>) shows here with its VM state and
            health.
          </p>
        </Empty>
      ) : data.error ? (
        <Empty title="vm-ctl failed" testid="bots-error">
          <p class="error-text">{data.error}</p>
        </Empty>
      ) : data.bots.length === 0 ? (
        <Empty title="No bots yet" testid="bots-none">
          <p>
            Create one with <code>vm-setup --instance NAME</code>.
          </p>
        </Empty>
      ) : (
        <table class="grid" data-testid="bots-table">
          <thead>
            <tr>
              <th>Bot</th>
              <th>VM state</th>
              <th>Health</th>
              <th>VMM</th>
              <th>Network</th>
              <th>Port</th>
              <th>vCPU / memory</th>
              <th>Model</th>
              <th>Created</th>
            </tr>
          </thead>
          <tbody>
            {data.bots.map((b) => (
              <tr key={b.id} data-testid={`bot-${b.id}`}>
                <td class="mono">{b.id}</td>
                <td>
                  <Pill kind={kindOf(b.state)}>{b.state}</Pill>
                </td>
                <td>
                  <Pill kind={kindOf(b.health)}>{b.health}</Pill>
                </td>
                <td>
                  {b.vmm}
                  {b.accel ? ` (${b.accel})` : ""}
                  {b.pid ? <span class="muted"> pid {b.pid}</span> : null}
                </td>
                <td>
                  {b.network}
                  {b.ip ? <span class="muted"> {b.ip}</span> : null}
                </td>
                <td class="mono">127.0.0.1:{b.hostPort}</td>
                <td>
                  {b.vcpu} / {b.memMib} MiB
                </td>
                <td>{b.model ?? "–"}</td>
                <td>{ago(Date.parse(b.createdAt), now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
