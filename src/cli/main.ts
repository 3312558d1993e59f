#!/usr/bin/env node
// The `converge` executable. Sets the exit status and lets the process end on
// its own: a command that left a timer or a thread running would hang here,
// which is a bug to fix, not to hide behind process.exit().
import { runCli } from "./cli.js";

// `converge list … | head`: a reader that stops reading ends the output, not with a crash.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
});

const interrupt = new AbortController();
// SIGINT (Ctrl-C) and SIGTERM (a service manager, `docker stop`) both stop the
// run: in-flight reconciles drain and the summary is printed. A second signal
// of the same kind kills (each handler is installed once).
const onSignal = (signal: NodeJS.Signals) => interrupt.abort(signal);
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
try {
  process.exitCode = await runCli(process.argv.slice(2), undefined, { signal: interrupt.signal });
} finally {
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}
