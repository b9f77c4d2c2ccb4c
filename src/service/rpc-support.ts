import { Code, ConnectError } from "@connectrpc/connect";
import { parseBearer } from "../jwt/bearer.js";
import { KeysUnavailable } from "../jwt/key-source.js";
import { TokenRejected } from "../jwt/token-rejected.js";
import type { VerifiedToken } from "../jwt/verifier.js";
import { StoreUnavailable, entryKey, type TokenKeys } from "../store/revocation-store.js";
import { createAdminKeyCheck } from "./admin-key.js";
import { storeUnavailable, type CallContext, type ServiceObserver, type Trace } from "./call.js";
import type { TokenServiceDeps } from "./token-service.js";

/** Longest jti, subject or issuer an operator may name. */
export const MAX_NAME_CHARS = 4096;
/** Longest audit reason. */
export const MAX_REASON_CHARS = 1024;

/** What every TokenService RPC handler shares: authentication, the operator check, store calls, argument checks. */
export interface RpcSupport {
  deps: TokenServiceDeps;
  observer: ServiceObserver | undefined;
  /** Verifies the bearer token; a bad one is UNAUTHENTICATED. */
  authenticate(ctx: CallContext, trace: Trace): Promise<VerifiedToken>;
  /** Verifies a token sent as a request field; a bad one is INVALID_ARGUMENT. */
  verifyArgument(token: string, trace: Trace): Promise<VerifiedToken>;
  /** Verifies a token sent as a request field; a bad one rejects with `TokenRejected`, as the verifier does. */
  verifyField(token: string): Promise<VerifiedToken>;
  /** Throws PERMISSION_DENIED unless the call carries the operator key. `action` names what was refused. */
  requireAdmin(ctx: CallContext, action: string): void;
  /** The store keys Info checks for a verified token. */
  keysOf(verified: VerifiedToken): TokenKeys;
  /** Runs a store call; a store failure is reported and becomes UNAVAILABLE, never a success that did not happen. */
  storeCall<T>(
    operation: "check" | "revoke" | "restore" | "lookup" | "history",
    fingerprint: string | undefined,
    call: () => Promise<T>,
  ): Promise<T>;
  /** A text field of at most `maxChars`; `required` refuses "". */
  text(value: string, field: string, options: { required: boolean; maxChars: number }): string;
  /** The optional audit `reason` of a change request, checked. */
  reason(value: string): string;
}

/** Builds the shared pieces over the service's dependencies. */
export function createRpcSupport(deps: TokenServiceDeps): RpcSupport {
  const checkAdminKey = deps.adminKey === undefined ? undefined : createAdminKeyCheck(deps.adminKey);
  const observer = deps.observer;

  const keysUnavailable = (err: unknown): unknown =>
    err instanceof KeysUnavailable ? new ConnectError("Signing keys are unavailable; retry later", Code.Unavailable) : err;
  const rejectedAs =
    (code: Code, prefix: string) =>
    (err: unknown): never => {
      if (err instanceof TokenRejected) throw new ConnectError(prefix + err.message, code);
      throw keysUnavailable(err);
    };
  const verifyField = async (token: string): Promise<VerifiedToken> => {
    if (token.length > deps.maxTokenBytes)
      throw new TokenRejected("TOKEN_MALFORMED", `Token is too long: the limit is ${deps.maxTokenBytes} bytes`);
    return deps.verifier(token.trim()).catch((err: unknown) => {
      throw keysUnavailable(err);
    });
  };
  const text: RpcSupport["text"] = (value, field, { required, maxChars }) => {
    if (required && value === "") throw new ConnectError(`${field} is required`, Code.InvalidArgument);
    if (value.length > maxChars) {
      throw new ConnectError(`${field} is longer than ${maxChars} characters`, Code.InvalidArgument);
    }
    return value;
  };

  return {
    deps,
    observer,
    async authenticate(ctx, trace) {
      try {
        const verified = await deps.verifier(parseBearer(ctx.requestHeader.get("authorization"), deps.maxTokenBytes));
        trace.fingerprint = verified.fingerprint;
        return verified;
      } catch (err) {
        return rejectedAs(Code.Unauthenticated, "")(err);
      }
    },
    async verifyArgument(token, trace) {
      try {
        const verified = await verifyField(token);
        trace.fingerprint = verified.fingerprint;
        return verified;
      } catch (err) {
        return rejectedAs(Code.InvalidArgument, "token: ")(err);
      }
    },
    verifyField,
    requireAdmin(ctx, action) {
      if (checkAdminKey === undefined) {
        throw new ConnectError(
          `${action} is disabled: set ADMIN_KEY on the server and send it in the x-admin-key header`,
          Code.PermissionDenied,
        );
      }
      if (!checkAdminKey(ctx.requestHeader.get("x-admin-key"))) {
        throw new ConnectError(`${action} needs the operator key in the x-admin-key header`, Code.PermissionDenied);
      }
    },
    keysOf(verified) {
      return {
        token: verified.fingerprint,
        jti: verified.jti === undefined ? undefined : entryKey({ scope: "jti", issuer: verified.issuer, jti: verified.jti }),
        subject:
          verified.subject === undefined ? undefined : entryKey({ scope: "subject", issuer: verified.issuer, subject: verified.subject }),
        issuedAtMs: verified.issuedAtMs,
      };
    },
    async storeCall(operation, fingerprint, call) {
      try {
        return await call();
      } catch (err) {
        if (!(err instanceof StoreUnavailable)) throw err;
        observer?.storeError(operation, fingerprint, err);
        throw storeUnavailable();
      }
    },
    text,
    reason: (value) => text(value, "reason", { required: false, maxChars: MAX_REASON_CHARS }),
  };
}
