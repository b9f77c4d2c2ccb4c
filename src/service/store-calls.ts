import { Code } from "@connectrpc/connect";
import type { VerifiedToken } from "../jwt/verifier.js";
import { ChangeUnconfirmed, type EntryId, StoreUnavailable, entryKey, type TokenKeys } from "../store/revocation-store.js";
import { abortError } from "./observed.js";
import type { ServiceObserver, StoreOperationName } from "./types.js";
import { ErrorReason, refusal } from "./error-reasons.js";

/** The answer when the store is down: retry later, never a guess. */
export const storeUnavailable = () =>
  refusal(Code.Unavailable, ErrorReason.STORE_UNAVAILABLE, "Revocation store is unavailable; retry later");

/** The answer when a change was not confirmed by the replicas it must reach: it may or may not stand. */
export const changeUnconfirmed = () =>
  refusal(
    Code.Unavailable,
    ErrorReason.CHANGE_UNCONFIRMED,
    "The change may or may not have been applied: the replicas did not confirm it in time (REDIS_WAIT_REPLICAS). It is idempotent: retry",
  );

/**
 * Runs one store round trip for a handler. A store failure is reported to
 * the observer and becomes UNAVAILABLE, never a success that did not happen.
 * A write is not started once the call's signal has aborted (deadline passed,
 * client gone): the client will not hear of it, so it must not happen behind
 * its back. A write already started completes or not at all (each is atomic).
 */
export function storeCall<T>(
  observer: ServiceObserver | undefined,
  operation: StoreOperationName,
  fingerprint: string | undefined,
  call: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return call().catch((err: unknown) => {
    if (!(err instanceof StoreUnavailable)) throw err;
    observer?.storeError(operation, fingerprint, err);
    throw err instanceof ChangeUnconfirmed ? changeUnconfirmed() : storeUnavailable();
  });
}

/** The token entry of a verified token, placed with its jti's entry, else its subject's (see `EntryId`). */
export function tokenEntryId(verified: VerifiedToken): EntryId {
  const keys = keysOf(verified);
  return { scope: "token", fingerprint: verified.fingerprint, placedWith: keys.jti ?? keys.subject };
}

/** The store keys Info checks for a verified token: its fingerprint, and its jti and subject scoped by issuer. */
export function keysOf(verified: VerifiedToken): TokenKeys {
  return {
    token: verified.fingerprint,
    jti: verified.jti === undefined ? undefined : entryKey({ scope: "jti", issuer: verified.issuer, jti: verified.jti }),
    subject:
      verified.subject === undefined ? undefined : entryKey({ scope: "subject", issuer: verified.issuer, subject: verified.subject }),
    issuedAtMs: verified.issuedAtMs,
  };
}
