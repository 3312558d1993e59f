#!/usr/bin/env node
// The `converge` executable. Sets the exit status and lets the process end on
// its own: a command that left a timer or a thread running would hang here,
// which is a bug to fix, not to hide behind process.exit().
import { runCli } from "./cli.js";

const interrupt = new AbortController();
// The first Ctrl-C stops the run and still prints its summary; a second one kills (once).
const onSigint = () => interrupt.abort();
process.once("SIGINT", onSigint);
try {
  process.exitCode = await runCli(process.argv.slice(2), undefined, { signal: interrupt.signal });
} finally {
  process.off("SIGINT", onSigint);
}
