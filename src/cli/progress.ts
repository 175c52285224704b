import cliProgress from "cli-progress";
import type { Progress, Task } from "../progress.js";

const MARK = { done: "ok  ", warn: "warn", fail: "FAIL" } as const;

function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

/**
 * Bars on a terminal, plain lines elsewhere (CI logs). Always on stderr, so `--json` output on
 * stdout stays machine-readable.
 */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}

function lineProgress(stream: NodeJS.WriteStream): Progress {
  return {
    info: (line) => stream.write(`${line}\n`),
    task(name) {
      const started = Date.now();
      stream.write(`==> ${name}\n`);
      let lastPct = -1;
      const end = (kind: keyof typeof MARK) => (summary: string) =>
        stream.write(`    ${MARK[kind]} ${name}: ${summary} [${elapsed(started)}]\n`);
      return {
        update(detail, fraction) {
          if (fraction === undefined) return;
          const pct = Math.floor(fraction * 4) * 25;
          if (pct > lastPct) {
            lastPct = pct;
            stream.write(`    ${String(pct).padStart(3)}% ${detail}\n`);
          }
        },
        done: end("done"),
        warn: end("warn"),
        fail: end("fail"),
      };
    },
  };
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  return {
    info: (line) => stream.write(`${line}\n`),
    task(name): Task {
      const started = Date.now();
      const bar = new cliProgress.SingleBar(
        {
          stream,
          format: `{name} [{bar}] {percentage}% {detail}`,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: true,
          fps: 8,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(100, 0, { name: name.padEnd(26), detail: "" });
      let value = 0;
      const end = (kind: keyof typeof MARK) => (summary: string) => {
        bar.stop();
        stream.write(`${MARK[kind]} ${name}: ${summary} [${elapsed(started)}]\n`);
      };
      return {
        update(detail, fraction) {
          if (fraction !== undefined) value = Math.max(value, Math.round(fraction * 100));
          bar.update(value, { detail: detail.slice(0, 50) });
        },
        done: end("done"),
        warn: end("warn"),
        fail: end("fail"),
      };
    },
  };
}
