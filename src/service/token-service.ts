import { createAuthentication } from "./authentication.js";
import { operatorRpcs } from "./operator-rpcs.js";
import { tokenRpcs } from "./token-rpcs.js";
import type { TokenServiceDeps, TokenServiceHandlers } from "./types.js";

export type { TokenServiceDeps, TokenServiceHandlers } from "./types.js";

/** Builds the TokenService handlers over a verifier and a store. */
export function createTokenService(deps: TokenServiceDeps): TokenServiceHandlers {
  const auth = createAuthentication(deps);
  return { ...tokenRpcs(deps, auth), ...operatorRpcs(deps, auth) };
}
