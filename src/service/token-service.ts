import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import type {
  BlacklistResponseSchema,
  InfoResponseSchema,
  UnblacklistResponseSchema,
} from "../../gen/tokens/v1/token_service_pb.js";
import { parseBearer } from "../jwt/bearer.js";
import { TokenRejected } from "../jwt/token-rejected.js";
import type { VerifiedToken, Verifier } from "../jwt/verifier.js";
import { StoreUnavailable, type RevocationStore } from "../store/revocation-store.js";
import { createAdminKeyCheck } from "./admin-key.js";

/** What a handler reads of a call: its headers (gRPC metadata). */
export interface CallContext {
  readonly requestHeader: { get(name: string): string | null };
}

/** What the TokenService rules need. */
export interface TokenServiceDeps {
  verifier: Verifier;
  store: RevocationStore;
  /** Operator key for Unblacklist; undefined disables it. */
  adminKey: string | undefined;
  maxTokenBytes: number;
}

/**
 * The rules of Info, Blacklist and Unblacklist. Every transport (gRPC,
 * gRPC-Web, Connect, REST) calls these same functions, so they give the same
 * answer; failures are `ConnectError`s with the code that says why.
 */
export interface TokenServiceHandlers {
  info(request: unknown, ctx: CallContext): Promise<MessageInitShape<typeof InfoResponseSchema>>;
  blacklist(request: unknown, ctx: CallContext): Promise<MessageInitShape<typeof BlacklistResponseSchema>>;
  unblacklist(request: unknown, ctx: CallContext): Promise<MessageInitShape<typeof UnblacklistResponseSchema>>;
}

/** Builds the TokenService handlers over a verifier and a store. */
export function createTokenService(deps: TokenServiceDeps): TokenServiceHandlers {
  const checkAdminKey = deps.adminKey === undefined ? undefined : createAdminKeyCheck(deps.adminKey);

  const authenticate = (ctx: CallContext): VerifiedToken => {
    try {
      return deps.verifier(parseBearer(ctx.requestHeader.get("authorization"), deps.maxTokenBytes));
    } catch (err) {
      if (err instanceof TokenRejected) throw new ConnectError(err.message, Code.Unauthenticated);
      throw err;
    }
  };

  return {
    async info(_request, ctx) {
      const verified = authenticate(ctx);
      if (await storeCall(deps.store.isRevoked(verified.fingerprint))) {
        throw new ConnectError("Token is blacklisted", Code.Unauthenticated);
      }
      return {
        success: true,
        token: verified.token,
        decodedToken: verified.claims as JsonObject,
        info: "Token is valid",
      };
    },

    async blacklist(_request, ctx) {
      const verified = authenticate(ctx);
      const newly = await storeCall(deps.store.revoke(verified.fingerprint, verified.revocationExpiresAtMs));
      return {
        success: true,
        token: verified.token,
        info: newly ? "Token blacklisted" : "Token was already blacklisted",
        newlyBlacklisted: newly,
      };
    },

    async unblacklist(_request, ctx) {
      if (checkAdminKey === undefined) {
        throw new ConnectError(
          "Unblacklist is disabled: set ADMIN_KEY on the server and send it in the x-admin-key header",
          Code.PermissionDenied,
        );
      }
      if (!checkAdminKey(ctx.requestHeader.get("x-admin-key"))) {
        throw new ConnectError("Unblacklist needs the operator key in the x-admin-key header", Code.PermissionDenied);
      }
      const verified = authenticate(ctx);
      const restored = await storeCall(deps.store.restore(verified.fingerprint));
      return {
        success: true,
        token: verified.token,
        info: restored ? "Token unblacklisted" : "Token was not blacklisted",
        wasBlacklisted: restored,
      };
    },
  };
}

async function storeCall<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof StoreUnavailable) {
      throw new ConnectError("Revocation store is unavailable; retry later", Code.Unavailable);
    }
    throw err;
  }
}
