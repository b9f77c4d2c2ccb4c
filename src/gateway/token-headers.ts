import type { VerifiedToken } from "../jwt/verifier.js";

/** The headers a gateway hands the upstream for a verified token. Always set by us or removed: a client cannot supply them. */
export const SUBJECT_HEADER = "x-token-subject";
export const JTI_HEADER = "x-token-jti";

/**
 * A claim as a header value: itself when it is printable ASCII, else
 * percent-encoded UTF-8 (as `encodeURIComponent` writes it), since a
 * header cannot carry other bytes safely. Consumers of non-ASCII subjects
 * decode with `decodeURIComponent`.
 */
export function headerValue(claim: string): string {
  return /^[\x20-\x7e]*$/.test(claim) ? claim.trim() : encodeURIComponent(claim);
}

/** `x-token-subject` and `x-token-jti` for the claims the token has, and the names of those it lacks (to remove). */
export function tokenHeaders(verified: VerifiedToken): { set: Array<[string, string]>; absent: string[] } {
  const set: Array<[string, string]> = [];
  const absent: string[] = [];
  for (const [name, claim] of [
    [SUBJECT_HEADER, verified.subject],
    [JTI_HEADER, verified.jti],
  ] as const) {
    if (claim === undefined) absent.push(name);
    else set.push([name, headerValue(claim)]);
  }
  return { set, absent };
}
