#!/usr/bin/env node
import { CommanderError } from "commander";
import { acceptDashIds } from "./dash-ids.js";
import { buildProgram } from "./program.js";
import { formatError } from "./output.js";
import { exitQuietlyOnClosedPipe } from "./pipe.js";

exitQuietlyOnClosedPipe();

const program = buildProgram();

try {
  await program.parseAsync(acceptDashIds(program, process.argv));
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else {
    console.error(formatError(err));
    process.exitCode = 1;
  }
}
