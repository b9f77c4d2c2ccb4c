import type { RevocationStore } from "./revocation-store.js";

/** A store operation, as timings name it. */
export type StoreOperation = "check" | "revoke" | "restore" | "ping";

/** Reports each round trip's duration and whether it succeeded. */
export type RoundTripListener = (operation: StoreOperation, seconds: number, ok: boolean) => void;

/** Wraps a store so every round trip is timed (for the store latency histogram). */
export function timedStore(store: RevocationStore, onRoundTrip: RoundTripListener): RevocationStore {
  const time = async <T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    let ok = false;
    try {
      const result = await call();
      ok = true;
      return result;
    } finally {
      onRoundTrip(operation, (performance.now() - started) / 1000, ok);
    }
  };
  return {
    isRevoked: (fingerprint) => time("check", () => store.isRevoked(fingerprint)),
    revoke: (fingerprint, expiresAtMs) => time("revoke", () => store.revoke(fingerprint, expiresAtMs)),
    restore: (fingerprint) => time("restore", () => store.restore(fingerprint)),
    ping: () => time("ping", () => store.ping()),
    close: () => store.close(),
  };
}
