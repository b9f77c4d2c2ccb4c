import { parseBearer } from "../jwt/bearer.js";
import { KeysUnavailable } from "../jwt/key-source.js";
import { TokenRejected } from "../jwt/token-rejected.js";
import type { VerifiedToken } from "../jwt/verifier.js";
import { tokenRevoked } from "../service/revocation-view.js";
import { keysOf, storeCall } from "../service/store-calls.js";
import type { TokenServiceDeps, Trace } from "../service/types.js";
import { keysUnavailable, tokenRefused } from "../service/error-reasons.js";

/**
 * The gateways' question, asked the way `Info` asks it: may a request with
 * this token through? Resolves with the verified token when it verifies and is
 * not revoked. Rejects with a ConnectError: UNAUTHENTICATED saying why
 * (missing, malformed, invalid, expired, revoked), or UNAVAILABLE when the
 * keys or the store cannot answer. Gateways never fail open here, whatever
 * FAIL_OPEN says: each has its own switch for that (Envoy's
 * `failure_mode_allow`, a proxy's error handling).
 */
export interface TokenGate {
  /** The token from an `Authorization` header value. */
  admitBearer(authorization: string | null | undefined, trace: Trace): Promise<VerifiedToken>;
  /** A token given as such (an OAuth form's `token`). */
  admitToken(token: string, trace: Trace): Promise<VerifiedToken>;
}

export function createTokenGate(deps: Pick<TokenServiceDeps, "verifier" | "store" | "observer" | "maxTokenBytes">): TokenGate {
  const admit = async (read: () => string, trace: Trace): Promise<VerifiedToken> => {
    let verified: VerifiedToken;
    try {
      verified = await deps.verifier(read());
    } catch (err) {
      // The TokenRejected stays as the cause: a challenge tells a missing token from a bad one.
      if (err instanceof TokenRejected) throw tokenRefused(err);
      if (err instanceof KeysUnavailable) throw keysUnavailable();
      throw err;
    }
    trace.fingerprint = verified.fingerprint;
    const match = await storeCall(deps.observer, "check", verified.fingerprint, () => deps.store.check(keysOf(verified)));
    if (match !== undefined) throw tokenRevoked(match);
    return verified;
  };
  return {
    admitBearer: (authorization, trace) => admit(() => parseBearer(authorization, deps.maxTokenBytes), trace),
    admitToken: (token, trace) =>
      admit(() => {
        if (token.length > deps.maxTokenBytes)
          throw new TokenRejected("TOKEN_MALFORMED", `Token is too long: the limit is ${deps.maxTokenBytes} bytes`);
        return token.trim();
      }, trace),
  };
}
