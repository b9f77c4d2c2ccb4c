import { TokenRejected } from "./token-rejected.js";

// RFC 6750 b64token: the characters a bearer credential may use.
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Extracts the token from an `Authorization: Bearer <token>` header value.
 * The scheme word is case-insensitive; anything else is refused with a
 * message that says what to send instead.
 */
export function parseBearer(header: string | null | undefined, maxTokenBytes: number): string {
  if (header === null || header === undefined || header === "") {
    throw new TokenRejected("TOKEN_MISSING", "Missing Authorization header: send 'Authorization: Bearer <jwt>'");
  }
  if (header.length > maxTokenBytes + 16) {
    throw new TokenRejected("TOKEN_MALFORMED", `Authorization header is too long: tokens are limited to ${maxTokenBytes} bytes`);
  }
  const match = BEARER.exec(header.trim());
  if (match === null) {
    const scheme = /^\S+/.exec(header.trim())?.[0] ?? "";
    if (scheme.toLowerCase() !== "bearer") {
      throw new TokenRejected("TOKEN_MALFORMED", "Authorization header must use the Bearer scheme: 'Authorization: Bearer <jwt>'");
    }
    throw new TokenRejected("TOKEN_MALFORMED", "Authorization header must hold exactly one token: 'Authorization: Bearer <jwt>'");
  }
  const token = match[1]!;
  if (token.length > maxTokenBytes) {
    throw new TokenRejected("TOKEN_MALFORMED", `Token is too long: the limit is ${maxTokenBytes} bytes`);
  }
  return token;
}
