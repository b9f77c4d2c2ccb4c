/**
 * Why a token verification failed, as a stable machine-readable word. The
 * message says the same for people; clients branch on this.
 */
export type RejectionReason =
  /** No `Authorization` header (or an empty one). */
  | "TOKEN_MISSING"
  /** Not a bearer JWT this service can read: wrong scheme, not three base64url segments, too long, ill-typed claims. */
  | "TOKEN_MALFORMED"
  /** The header's `alg` is not in JWT_ALGORITHMS (`none` never is). */
  | "ALGORITHM_NOT_ALLOWED"
  /** The header's `kid` names no key of the issuer's key set. */
  | "KEY_NOT_FOUND"
  /** The signature does not verify with the configured key, or the key cannot serve the `alg`. */
  | "SIGNATURE_INVALID"
  /** `exp` has passed (give or take the clock tolerance). */
  | "TOKEN_EXPIRED"
  /** `nbf` has not come yet, or `iat` is in the future (give or take the clock tolerance). */
  | "TOKEN_NOT_YET_VALID"
  /** `iss` is not JWT_ISSUER. */
  | "ISSUER_INVALID"
  /** `aud` holds none of JWT_AUDIENCE. */
  | "AUDIENCE_INVALID"
  /** `exp`, a JWT_REQUIRED_CLAIMS claim, or (with a lifetime limit) `iat` is absent. */
  | "CLAIM_MISSING"
  /** `exp - iat` exceeds JWT_MAX_LIFETIME_SECONDS. */
  | "LIFETIME_EXCEEDED";

/**
 * Why a token was refused. The message is safe to send to the caller: it
 * never contains the token.
 */
export class TokenRejected extends Error {
  override name = "TokenRejected";
  constructor(
    readonly reason: RejectionReason,
    message: string,
  ) {
    super(message);
  }
}
