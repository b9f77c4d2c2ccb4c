import { Code, type ConnectError } from "@connectrpc/connect";
import type { VerifiedToken } from "../jwt/verifier.js";
import type { Route } from "../server/dispatcher.js";
import { httpStatusOf, requestTooLarge, restErrorBody } from "../server/errors.js";
import type { Exchange } from "../server/exchange.js";
import { runUnary } from "../server/unary-call.js";
import { observed } from "../service/observed.js";
import type { ServiceObserver } from "../service/types.js";
import type { TokenGate } from "./token-gate.js";
import { tokenHeaders } from "./token-headers.js";
import { bearerChallenge } from "./www-authenticate.js";

/** Options for {@link createForwardAuth}. */
export interface ForwardAuthOptions {
  gate: TokenGate;
  readMaxBytes: number;
  observer?: ServiceObserver;
  onInternalError: (err: unknown) => void;
}

/** The path proxies send their auth subrequests to. */
export const FORWARD_AUTH_PATH = "/auth";

const NO_STORE = { "cache-control": "no-store" };
const JSON_TYPE = { "content-type": "application/json", ...NO_STORE };

/**
 * `/auth`, any method: the forward-auth endpoint of nginx `auth_request`,
 * Traefik `ForwardAuth` and the like, over the {@link TokenGate}. 200 (no
 * body) with `X-Token-Subject` and `X-Token-Jti` for a valid token nobody
 * revoked; 401 with a `WWW-Authenticate` challenge and the REST routes' JSON
 * for a missing, invalid, expired or revoked one; 503 with `Retry-After` when
 * the store (or the key source) cannot answer. The proxy forwards the
 * client's headers, `Authorization` among them; a body is read and dropped.
 */
export function createForwardAuth(options: ForwardAuthOptions): Route {
  const handler = observed(options.observer, "ForwardAuth", (_request: unknown, ctx, trace) =>
    options.gate.admitBearer(ctx.requestHeader.get("authorization"), trace),
  );
  const serve = async (exchange: Exchange) => {
    const outcome = await runUnary(exchange, {
      handler: handler as (request: unknown, ctx: Parameters<typeof handler>[1]) => Promise<unknown>,
      protocol: "forward-auth",
      decode: () => (exchange.bodiless ? undefined : exchange.readBody(options.readMaxBytes, () => requestTooLarge(options.readMaxBytes))),
      onInternalError: options.onInternalError,
    });
    if (outcome.error === undefined) {
      const { set } = tokenHeaders(outcome.response as unknown as VerifiedToken);
      exchange.respond(200, { ...NO_STORE, ...Object.fromEntries(set), "content-length": "0" });
      return;
    }
    refuse(exchange, outcome.error);
  };
  return (exchange) => {
    const target = exchange.target;
    const path = target.includes("?") ? target.slice(0, target.indexOf("?")) : target;
    if (path !== FORWARD_AUTH_PATH) return false;
    void serve(exchange);
    return true;
  };
}

function refuse(exchange: Exchange, error: ConnectError): void {
  const body = JSON.stringify(restErrorBody(error));
  if (error.code === Code.Unauthenticated) {
    exchange.respond(401, { ...JSON_TYPE, "www-authenticate": bearerChallenge(error) }, body);
  } else if (error.code === Code.Unavailable) {
    exchange.respond(503, { ...JSON_TYPE, "retry-after": "1" }, body);
  } else {
    exchange.respond(httpStatusOf(error), JSON_TYPE, body);
  }
}
