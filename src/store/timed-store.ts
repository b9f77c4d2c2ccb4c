import type { RevocationStore } from "./revocation-store.js";

/** A store operation, as timings name it. */
export type StoreOperation = "check" | "revoke" | "restore" | "lookup" | "history" | "ping";

/** Reports each round trip's duration and whether it succeeded. */
export type RoundTripListener = (operation: StoreOperation, seconds: number, ok: boolean) => void;

/** Wraps a store so every round trip is timed (for the store latency histogram). */
export function timedStore(store: RevocationStore, onRoundTrip: RoundTripListener): RevocationStore {
  // Callbacks, not async/finally: this runs on every Info, and each await layer costs a promise.
  const time = <T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    return call().then(
      (result) => {
        onRoundTrip(operation, (performance.now() - started) / 1000, true);
        return result;
      },
      (err: unknown) => {
        onRoundTrip(operation, (performance.now() - started) / 1000, false);
        throw err;
      },
    );
  };
  return {
    check: (keys) => time("check", () => store.check(keys)),
    revoke: (id, request) => time("revoke", () => store.revoke(id, request)),
    restore: (id, request) => time("restore", () => store.restore(id, request)),
    lookup: (id) => time("lookup", () => store.lookup(id)),
    history: (limit, before) => time("history", () => store.history(limit, before)),
    ping: () => time("ping", () => store.ping()),
    close: () => store.close(),
    log: store.log,
  };
}
