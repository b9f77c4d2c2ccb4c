import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import type {
  BlacklistResponseSchema,
  InfoResponseSchema,
  UnblacklistResponseSchema,
} from "../../gen/tokens/v1/token_service_pb.js";
import { parseBearer } from "../jwt/bearer.js";
import { KeysUnavailable } from "../jwt/key-source.js";
import { TokenRejected } from "../jwt/token-rejected.js";
import type { VerifiedToken, Verifier } from "../jwt/verifier.js";
import { StoreUnavailable, type RevocationStore } from "../store/revocation-store.js";
import { createAdminKeyCheck } from "./admin-key.js";

/** What a handler reads of a call: its headers (gRPC metadata). */
export interface CallContext {
  readonly requestHeader: { get(name: string): string | null };
}

/** A store call, for observers. */
export type StoreOperation = "check" | "revoke" | "restore";

/** Hooks for logs and metrics; they receive fingerprints, never tokens. */
export interface ServiceObserver {
  storeError(operation: StoreOperation, fingerprint: string, error: Error): void;
  /** Info said "valid" without a revocation check (FAIL_OPEN=true, store down). */
  failedOpen(fingerprint: string): void;
}

/** What the TokenService rules need. */
export interface TokenServiceDeps {
  verifier: Verifier;
  store: RevocationStore;
  /** Operator key for Unblacklist; undefined disables it. */
  adminKey: string | undefined;
  maxTokenBytes: number;
  /** Info answers "valid" when the store is down, instead of UNAVAILABLE. */
  failOpen?: boolean;
  observer?: ServiceObserver;
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

  const observer = deps.observer;

  const authenticate = async (ctx: CallContext): Promise<VerifiedToken> => {
    try {
      return await deps.verifier(parseBearer(ctx.requestHeader.get("authorization"), deps.maxTokenBytes));
    } catch (err) {
      if (err instanceof TokenRejected) throw new ConnectError(err.message, Code.Unauthenticated);
      if (err instanceof KeysUnavailable) {
        throw new ConnectError("Signing keys are unavailable; retry later", Code.Unavailable);
      }
      throw err;
    }
  };

  /** Runs a store call; a store failure becomes UNAVAILABLE, never a success that was not stored. */
  const storeCall = async <T>(operation: StoreOperation, fingerprint: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      observer?.storeError(operation, fingerprint, err);
      throw storeUnavailable();
    }
  };

  return {
    async info(_request, ctx) {
      const verified = await authenticate(ctx);
      const fp = verified.fingerprint;
      let info = "Token is valid";
      let revoked: boolean;
      try {
        revoked = await deps.store.isRevoked(fp);
      } catch (err) {
        if (!(err instanceof StoreUnavailable)) throw err;
        observer?.storeError("check", fp, err);
        if (!deps.failOpen) throw storeUnavailable();
        observer?.failedOpen(fp);
        revoked = false;
        info = "Token is valid; revocation NOT checked: the store is unavailable and FAIL_OPEN=true";
      }
      if (revoked) throw new ConnectError("Token is blacklisted", Code.Unauthenticated);
      return {
        success: true,
        token: verified.token,
        decodedToken: verified.claims as JsonObject,
        info,
      };
    },

    async blacklist(_request, ctx) {
      const verified = await authenticate(ctx);
      const fp = verified.fingerprint;
      const newly = await storeCall("revoke", fp, () => deps.store.revoke(fp, verified.revocationExpiresAtMs));
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
      const verified = await authenticate(ctx);
      const fp = verified.fingerprint;
      const restored = await storeCall("restore", fp, () => deps.store.restore(fp));
      return {
        success: true,
        token: verified.token,
        info: restored ? "Token unblacklisted" : "Token was not blacklisted",
        wasBlacklisted: restored,
      };
    },
  };
}

const storeUnavailable = () => new ConnectError("Revocation store is unavailable; retry later", Code.Unavailable);
