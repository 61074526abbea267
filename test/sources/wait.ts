/** Polls until `cond` holds; fails with `what` after `timeoutMs` (tests never rely on fixed sleeps). */
export async function waitFor(cond: () => boolean, timeoutMs = 30_000, what = 'condition', intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
