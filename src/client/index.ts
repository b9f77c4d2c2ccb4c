/**
 * `token-blacklist/client`: check tokens in your own process, against a
 * mirror of the service's revocations kept by its WatchRevocations feed.
 *
 * ```ts
 * const checker = await createTokenChecker({ baseUrl, feedKey, jwt: { secret, issuer } });
 * const verdict = await checker.check(token); // { valid: true, claims } or { valid: false, code, message }
 * ```
 */
export { tokenCheckInterceptor, verifiedToken } from "./connect-interceptor.js";
export type { FeedState } from "./feed-subscriber.js";
export { tokenCheckMiddleware, verifiedTokenOf } from "./http-middleware.js";
export {
  type CheckResult,
  createTokenChecker,
  type TokenChecker,
  type TokenCheckerJwtOptions,
  type TokenCheckerOptions,
} from "./token-checker.js";
