/** Where the CLI reads and writes; `process.stdout`/`process.stderr` fit, and so does a test's capture. */
export interface CliIO {
  readonly stdout: { write(chunk: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(chunk: string): unknown };
  /** What `apply -f -` reads. */
  readonly stdin?: AsyncIterable<Uint8Array | string>;
}

/** The process's own streams. */
export function processIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}
