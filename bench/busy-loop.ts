/**
 * Keeps the event loop busy: a `chunkMs` CPU spin, a yield through
 * `setImmediate` (so timers and I/O get their turn), and again, until the
 * returned function is called. Models a controller doing synchronous work.
 */
export function keepLoopBusy(chunkMs: number): () => void {
  let stopped = false;
  let spins = 0;
  const chunk = (): void => {
    if (stopped) return;
    const end = performance.now() + chunkMs;
    while (performance.now() < end) spins++;
    setImmediate(chunk);
  };
  setImmediate(chunk);
  return () => {
    stopped = true;
  };
}
