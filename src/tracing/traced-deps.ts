import type { Verifier } from "../jwt/verifier.js";
import type { RevocationStore } from "../store/revocation-store.js";
import type { Tracing } from "./tracing.js";

/** Token verification as a child span of the call (`token.verify`). Installed only when tracing is on. */
export function tracedVerifier(verifier: Verifier, tracing: Tracing): Verifier {
  const none = {};
  return (token) => tracing.child("token.verify", "internal", none, () => verifier(token));
}

/**
 * Every store round trip as a child span of the call (`store.check`,
 * `store.revoke`...), with `db.system.name`. Wraps the store itself, so a
 * check answered from the in-process mirror (REVOCATION_CACHE=mirror) is no
 * span, and calls outside a traced call (probes, the feed) make none.
 * Installed only when tracing is on.
 */
export function tracedStore(store: RevocationStore, system: "redis" | "sqlite", tracing: Tracing): RevocationStore {
  const kind = system === "redis" ? "client" : "internal";
  const attributes = (operation: string) => ({ "db.system.name": system, "db.operation.name": operation });
  const check = attributes("check");
  const revoke = attributes("revoke");
  const restore = attributes("restore");
  const lookup = attributes("lookup");
  const history = attributes("history");
  return {
    check: (keys) => tracing.child("store.check", kind, check, () => store.check(keys)),
    revoke: (id, request) => tracing.child("store.revoke", kind, revoke, () => store.revoke(id, request)),
    restore: (id, request) => tracing.child("store.restore", kind, restore, () => store.restore(id, request)),
    lookup: (id) => tracing.child("store.lookup", kind, lookup, () => store.lookup(id)),
    history: (limit, before) => tracing.child("store.history", kind, history, () => store.history(limit, before)),
    ping: () => store.ping(),
    close: () => store.close(),
    log: store.log,
  };
}
