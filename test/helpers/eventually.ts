/** Polls `check` until it holds or `deadlineMs` passes; resolves with the last answer. No fixed sleeps. */
export async function eventually(check: () => Promise<boolean>, deadlineMs = 10_000, intervalMs = 25): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return check();
}
