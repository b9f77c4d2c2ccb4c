/**
 * The revocation store contract. Keys are token fingerprints, never tokens.
 * Every implementation passes the same contract suite (test/store-contract.test.ts).
 */
export interface RevocationStore {
  /** True while `fingerprint` is revoked and its entry has not expired. One round trip. */
  isRevoked(fingerprint: string): Promise<boolean>;
  /**
   * Revokes until `expiresAtMs` (epoch ms), after which the entry disappears by
   * itself. Returns true if this call revoked it, false if it already was (or
   * `expiresAtMs` has passed, so there is nothing left to revoke).
   */
  revoke(fingerprint: string, expiresAtMs: number): Promise<boolean>;
  /** Lifts a revocation. Returns true if there was one, false if not. */
  restore(fingerprint: string): Promise<boolean>;
  /** Resolves when the store answers; rejects with {@link StoreUnavailable} otherwise. */
  ping(): Promise<void>;
  /** Releases connections and files. */
  close(): Promise<void>;
}

/** The store could not be reached or did not answer in time; the caller should retry. */
export class StoreUnavailable extends Error {
  override name = "StoreUnavailable";
}
