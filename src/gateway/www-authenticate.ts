import type { ConnectError } from "@connectrpc/connect";
import { TokenRejected } from "../jwt/token-rejected.js";

/**
 * The `WWW-Authenticate` challenge for a refused bearer token (RFC 6750
 * section 3): no error code when the request carried no token, else
 * `invalid_token` with the reason as `error_description`, reduced to the
 * characters that attribute allows.
 */
export function bearerChallenge(refusal: ConnectError): string {
  const missing = refusal.cause instanceof TokenRejected && refusal.cause.reason === "TOKEN_MISSING";
  if (missing) return 'Bearer realm="token-blacklist"';
  return `Bearer realm="token-blacklist", error="invalid_token", error_description="${errorDescription(refusal.rawMessage)}"`;
}

/** A refusal's message as an RFC 6750 `error_description`: the characters that attribute allows, others as `'`. */
export function errorDescription(message: string): string {
  return message.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "'");
}
