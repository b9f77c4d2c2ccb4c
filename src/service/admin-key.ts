import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Compares a presented admin key with the configured one in constant time.
 * Both sides are hashed first so neither length nor content leaks through timing.
 */
export function createAdminKeyCheck(adminKey: string): (presented: string | null) => boolean {
  const expected = createHash("sha256").update(adminKey, "utf8").digest();
  return (presented) => {
    if (presented === null) return false;
    const actual = createHash("sha256").update(presented, "utf8").digest();
    return timingSafeEqual(expected, actual);
  };
}
