/**
 * Why a bearer token was refused. The message is safe to send to the caller:
 * it never contains the token.
 */
export class TokenRejected extends Error {
  override name = "TokenRejected";
}
