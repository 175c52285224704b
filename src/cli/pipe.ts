/**
 * Makes a CLI end quietly when the pipe it writes to closes (`docker-agent list | head -1`): an
 * EPIPE on stdout or stderr ends the process with the exit code set so far (0 when none), with no
 * stack trace. Any other stream error is rethrown. Call it once, first thing, in every CLI.
 */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code !== "EPIPE") throw err;
      process.exit(process.exitCode ?? 0);
    });
  }
}
