import type { MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import type { Verifier } from "../jwt/verifier.js";
import type { RevocationStore } from "../store/revocation-store.js";
import type { CallContext, ServiceObserver } from "./call.js";
import { operatorRpcs } from "./operator-rpcs.js";
import { createRpcSupport } from "./rpc-support.js";
import { tokenRpcs } from "./token-rpcs.js";

/** What the TokenService rules need. */
export interface TokenServiceDeps {
  verifier: Verifier;
  store: RevocationStore;
  /** Operator key for Unblacklist and the operator RPCs; undefined disables them. */
  adminKey: string | undefined;
  maxTokenBytes: number;
  /** The issuer operator RPCs scope a jti or subject to when the request names none (JWT_ISSUER). */
  issuer: string;
  /** Longest token lifetime accepted; bounds how long jti and subject entries are kept. Undefined: no limit, kept until lifted. */
  maxLifetimeSeconds: number | undefined;
  clockToleranceSeconds: number;
  /** Info answers "valid" when the store is down, instead of UNAVAILABLE. */
  failOpen?: boolean;
  observer?: ServiceObserver;
}

type Methods = (typeof TokenService)["method"];

/**
 * The rules of every TokenService RPC. Every transport (gRPC, gRPC-Web,
 * Connect, REST) calls these same functions, so they give the same answer;
 * failures are `ConnectError`s with the code that says why.
 */
export type TokenServiceHandlers = {
  [K in keyof Methods]: (request: MessageShape<Methods[K]["input"]>, ctx: CallContext) => Promise<MessageInitShape<Methods[K]["output"]>>;
};

/** Builds the TokenService handlers over a verifier and a store. */
export function createTokenService(deps: TokenServiceDeps): TokenServiceHandlers {
  const support = createRpcSupport(deps);
  return { ...tokenRpcs(support), ...operatorRpcs(support) };
}
