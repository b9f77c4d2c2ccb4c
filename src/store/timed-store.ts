import type { RevocationStore } from "./revocation-store.js";

/** A store operation, as timings name it. */
export type StoreOperation = "check" | "revoke" | "restore" | "lookup" | "history" | "ping";

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
    check: (keys) => time("check", () => store.check(keys)),
    revoke: (id, request) => time("revoke", () => store.revoke(id, request)),
    restore: (id, request) => time("restore", () => store.restore(id, request)),
    lookup: (id) => time("lookup", () => store.lookup(id)),
    history: (limit, before) => time("history", () => store.history(limit, before)),
    ping: () => time("ping", () => store.ping()),
    close: () => store.close(),
  };
}
