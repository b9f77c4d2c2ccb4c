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

/** What a handler reads of a call: its headers (gRPC metadata) and protocol. */
export interface CallContext {
  readonly requestHeader: { get(name: string): string | null };
  /** "grpc", "grpc-web" or "connect" (set by Connect), or "rest". */
  readonly protocolName: string;
}

/** One RPC's handler as every transport calls it: request message in, response init out. */
export type UnaryHandler = (request: unknown, ctx: CallContext) => Promise<unknown>;

/** The RPCs, as observers name them. */
export type RpcName = "Info" | "Blacklist" | "Unblacklist";

/** One finished call, for logs and metrics: a fingerprint, never a token. */
export interface CallRecord {
  rpc: RpcName;
  protocol: string;
  /** undefined for success. */
  code: Code | undefined;
  durationMs: number;
  /** Set once the token verified. */
  fingerprint: string | undefined;
  /** For failures: the message sent to the caller. */
  message: string | undefined;
}

/** Hooks for logs and metrics; they receive fingerprints, never tokens. */
export interface ServiceObserver {
  callCompleted(record: CallRecord): void;
  /** A revocation was added ("revoked") or lifted ("restored") by this call. */
  changed(change: "revoked" | "restored", fingerprint: string): void;
  storeError(operation: "check" | "revoke" | "restore", fingerprint: string, error: Error): void;
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

/** Per-call facts the observer reports once the call ends. */
interface Trace {
  fingerprint: string | undefined;
}

/** Builds the TokenService handlers over a verifier and a store. */
export function createTokenService(deps: TokenServiceDeps): TokenServiceHandlers {
  const checkAdminKey = deps.adminKey === undefined ? undefined : createAdminKeyCheck(deps.adminKey);
  const { store, observer } = deps;

  const authenticate = async (ctx: CallContext, trace: Trace): Promise<VerifiedToken> => {
    try {
      const verified = await deps.verifier(parseBearer(ctx.requestHeader.get("authorization"), deps.maxTokenBytes));
      trace.fingerprint = verified.fingerprint;
      return verified;
    } catch (err) {
      if (err instanceof TokenRejected) throw new ConnectError(err.message, Code.Unauthenticated);
      if (err instanceof KeysUnavailable) {
        throw new ConnectError("Signing keys are unavailable; retry later", Code.Unavailable);
      }
      throw err;
    }
  };

  /** A store write; failure becomes UNAVAILABLE, never a success that was not stored. */
  const write = async <T>(operation: "revoke" | "restore", fingerprint: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      observer?.storeError(operation, fingerprint, err);
      throw storeUnavailable();
    }
  };

  /** Runs one RPC and reports it to the observer, whatever the outcome. */
  const observed = <R>(rpc: RpcName, run: (ctx: CallContext, trace: Trace) => Promise<R>) =>
    observer === undefined
      ? (_request: unknown, ctx: CallContext) => run(ctx, { fingerprint: undefined })
      : async (_request: unknown, ctx: CallContext): Promise<R> => {
          const started = performance.now();
          const trace: Trace = { fingerprint: undefined };
          let failure: ConnectError | undefined;
          try {
            return await run(ctx, trace);
          } catch (err) {
            failure = ConnectError.from(err);
            throw err;
          } finally {
            observer.callCompleted({
              rpc,
              protocol: ctx.protocolName,
              code: failure?.code,
              durationMs: performance.now() - started,
              fingerprint: trace.fingerprint,
              message: failure?.rawMessage,
            });
          }
        };

  return {
    info: observed("Info", async (ctx, trace) => {
      const verified = await authenticate(ctx, trace);
      const fp = verified.fingerprint;
      let info = "Token is valid";
      let revoked: boolean;
      try {
        revoked = await store.isRevoked(fp);
      } catch (err) {
        if (!(err instanceof StoreUnavailable)) throw err;
        observer?.storeError("check", fp, err);
        if (!deps.failOpen) throw storeUnavailable();
        observer?.failedOpen(fp);
        revoked = false;
        info = "Token is valid; revocation NOT checked: the store is unavailable and FAIL_OPEN=true";
      }
      if (revoked) throw new ConnectError("Token is blacklisted", Code.Unauthenticated);
      return { success: true, token: verified.token, decodedToken: verified.claims as JsonObject, info };
    }),

    blacklist: observed("Blacklist", async (ctx, trace) => {
      const verified = await authenticate(ctx, trace);
      const fp = verified.fingerprint;
      const newly = await write("revoke", fp, () => store.revoke(fp, verified.revocationExpiresAtMs));
      if (newly) observer?.changed("revoked", fp);
      return {
        success: true,
        token: verified.token,
        info: newly ? "Token blacklisted" : "Token was already blacklisted",
        newlyBlacklisted: newly,
      };
    }),

    unblacklist: observed("Unblacklist", async (ctx, trace) => {
      if (checkAdminKey === undefined) {
        throw new ConnectError(
          "Unblacklist is disabled: set ADMIN_KEY on the server and send it in the x-admin-key header",
          Code.PermissionDenied,
        );
      }
      if (!checkAdminKey(ctx.requestHeader.get("x-admin-key"))) {
        throw new ConnectError("Unblacklist needs the operator key in the x-admin-key header", Code.PermissionDenied);
      }
      const verified = await authenticate(ctx, trace);
      const fp = verified.fingerprint;
      const restored = await write("restore", fp, () => store.restore(fp));
      if (restored) observer?.changed("restored", fp);
      return {
        success: true,
        token: verified.token,
        info: restored ? "Token unblacklisted" : "Token was not blacklisted",
        wasBlacklisted: restored,
      };
    }),
  };
}

const storeUnavailable = () => new ConnectError("Revocation store is unavailable; retry later", Code.Unavailable);
