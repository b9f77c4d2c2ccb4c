import { type ChangeResult, type EntryId, entryKey, type RevocationStore } from "../store/revocation-store.js";
import type { StoreFollower } from "./store-follower.js";

/** Options for {@link mirroredStore}. */
export interface MirroredStoreOptions {
  /** Answer `check` from the follower's set (REVOCATION_CACHE=mirror) instead of the store. */
  answerChecks: boolean;
  /** Past this lag the set is not trusted: `check` asks the store (which fails UNAVAILABLE when it is down). */
  maxStalenessMs: number;
}

/**
 * The store, with this process's {@link StoreFollower} told of each change
 * made through it at once (so a watcher, and Info in mirror mode, see this
 * instance's own writes without waiting for the log), and, with
 * `answerChecks`, `check` answered from the follower's set while it is fresh.
 */
export function mirroredStore(store: RevocationStore, follower: StoreFollower, options: MirroredStoreOptions): RevocationStore {
  const applyOwn = (result: ChangeResult): ChangeResult => {
    if (result.event !== undefined) follower.applyOwn(store.log.changeOf(result.event));
    return result;
  };
  /** A revoke that found the entry already in force (revoked through another instance, perhaps not read yet): the mirror holds it at once. */
  const applyFound =
    (id: EntryId, appliedBefore: number) =>
    (result: ChangeResult): ChangeResult => {
      if (!result.changed && result.entry !== undefined) follower.applyFound(entryKey(id), result.entry, appliedBefore);
      return applyOwn(result);
    };
  return {
    ...store,
    check: options.answerChecks
      ? (keys) =>
          follower.position !== undefined && follower.lagMs() <= options.maxStalenessMs
            ? Promise.resolve(follower.set.check(keys))
            : store.check(keys)
      : store.check, // the default (store mode): nothing added to Info's path
    revoke: (id, request) => {
      const appliedBefore = follower.applied;
      return store.revoke(id, request).then(applyFound(id, appliedBefore));
    },
    restore: (id, request) => store.restore(id, request).then(applyOwn),
    close: async () => {
      follower.stop();
      await store.close();
    },
  };
}
