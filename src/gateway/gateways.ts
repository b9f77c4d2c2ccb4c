import type { GatewayConfig } from "../config.js";
import type { Route } from "../server/dispatcher.js";
import type { TokenServiceDeps } from "../service/types.js";
import { createExtAuthz, type ExtAuthzHandlers } from "./ext-authz.js";
import { createForwardAuth } from "./forward-auth.js";
import { createOAuthRoutes } from "./oauth.js";
import { createTokenGate } from "./token-gate.js";

/** What the server mounts for gateways: the ext_authz service's handlers, and the HTTP routes. */
export interface Gateways {
  /** `envoy.service.auth.v3.Authorization`, by method local name. */
  authorization: ExtAuthzHandlers;
  /** `/auth`, `/oauth2/introspect`, `/oauth2/revoke`. */
  routes: Route[];
}

/** Builds every gateway endpoint over one {@link TokenGate}: the same rules and store as the TokenService. */
export function createGateways(
  deps: TokenServiceDeps,
  config: GatewayConfig,
  options: { readMaxBytes: number; onInternalError: (err: unknown) => void },
): Gateways {
  const gate = createTokenGate(deps);
  const { observer } = deps;
  const extAuthz = createExtAuthz({
    gate,
    removeAuthorization: config.removeAuthorization,
    ...(observer === undefined ? {} : { observer }),
  });
  return {
    authorization: extAuthz,
    routes: [
      createForwardAuth({ gate, ...options, ...(observer === undefined ? {} : { observer }) }),
      createOAuthRoutes({ gate, deps, clients: config.oauthClients, ...options }),
    ],
  };
}
