import { createHash } from "node:crypto";

/**
 * The canonical identity of a JWT: SHA-256 of its signing input
 * (`header.payload`), base64url. The signature segment is left out because it
 * is malleable (base64url trailing bits, ECDSA (r, n-s)); the signing input is
 * not. Stores and logs keep this, never the token, so a dump of either hands
 * nobody a usable credential.
 */
export function fingerprint(token: string): string {
  const end = token.lastIndexOf(".");
  return createHash("sha256")
    .update(end < 0 ? token : token.slice(0, end))
    .digest("base64url");
}
