/** How long-running work reports itself; the CLI draws it (bars on a terminal, lines in CI). */
export interface Task {
  /** `fraction` in 0..1 when known. */
  update(detail: string, fraction?: number): void;
  done(summary: string): void;
  warn(summary: string): void;
  fail(summary: string): void;
}

export interface Progress {
  task(name: string): Task;
  info(line: string): void;
}

/** For library callers and tests that do not want output. */
export const silentProgress: Progress = {
  task: () => ({ update() {}, done() {}, warn() {}, fail() {} }),
  info() {},
};
