import { createContextKey, type Interceptor } from "@connectrpc/connect";
import { type CheckResult, refusalOf, type TokenChecker } from "./token-checker.js";

/** Where {@link tokenCheckInterceptor} leaves the verified token for handlers: `context.values.get(verifiedToken)`. */
export const verifiedToken = createContextKey<Extract<CheckResult, { valid: true }> | undefined>(undefined, {
  description: "the caller's verified, unrevoked token",
});

/**
 * A Connect interceptor for services built on connect-node (server side:
 * pass it in `interceptors` of `connectNodeAdapter`): every call must carry
 * `Authorization: Bearer <jwt>` that the checker finds valid and unrevoked,
 * or it fails with UNAUTHENTICATED (or UNAVAILABLE, when the mirror is stale
 * and the checker fails closed), with Info's message and ErrorInfo.
 */
export function tokenCheckInterceptor(checker: TokenChecker): Interceptor {
  return (next) => async (request) => {
    const result = await checker.checkBearer(request.header.get("authorization"));
    if (!result.valid) throw refusalOf(result);
    request.contextValues.set(verifiedToken, result);
    return next(request);
  };
}
