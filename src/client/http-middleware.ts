import type { IncomingMessage, ServerResponse } from "node:http";
import { errorDescription } from "../gateway/www-authenticate.js";
import { restErrorBody } from "../server/errors.js";
import { type CheckResult, refusalOf, type TokenChecker } from "./token-checker.js";

type Verified = Extract<CheckResult, { valid: true }>;

const verifiedByRequest = new WeakMap<IncomingMessage, Verified>();

/** The token {@link tokenCheckMiddleware} verified for this request, in the handlers after it. */
export function verifiedTokenOf(request: IncomingMessage): Verified | undefined {
  return verifiedByRequest.get(request);
}

/**
 * Middleware for `node:http` and Express-style handlers,
 * `(request, response, next)`: a request whose bearer token is valid and
 * unrevoked goes on to `next()`; otherwise it is answered here, as the
 * service's REST routes answer: 401 with `WWW-Authenticate` (RFC 6750), or
 * 503 with `Retry-After` when the mirror is stale and the checker fails
 * closed, and the JSON body `{"success": false, "info": ..., "code": ..., "reason": ..., "metadata": {...}}`.
 */
export function tokenCheckMiddleware(checker: TokenChecker) {
  return (request: IncomingMessage, response: ServerResponse, next: (err?: unknown) => void): void => {
    checker.checkBearer(request.headers.authorization).then(
      (result) => {
        if (result.valid) {
          verifiedByRequest.set(request, result);
          next();
          return;
        }
        const headers: Record<string, string> = { "content-type": "application/json" };
        if (result.code === "unavailable") headers["retry-after"] = "1";
        else headers["www-authenticate"] = `Bearer error="invalid_token", error_description="${errorDescription(result.message)}"`;
        response.writeHead(result.code === "unavailable" ? 503 : 401, headers);
        response.end(JSON.stringify(restErrorBody(refusalOf(result))));
      },
      (err: unknown) => next(err),
    );
  };
}
