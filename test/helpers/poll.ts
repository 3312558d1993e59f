/**
 * Calls `probe` every `intervalMs` until it returns true, for state that has no
 * event to await (another process's, a server coming back). Rejects after
 * `limitMs` with `what` in the message. Not a timing assertion: limits are generous.
 */
export async function pollUntil(probe: () => Promise<boolean> | boolean, what: string, limitMs = 30_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // A probe failing (a server still restarting) is the same as "not yet".
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${limitMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
