import { Code } from "@connectrpc/connect";
import { parseBearer } from "../jwt/bearer.js";
import { KeysUnavailable } from "../jwt/key-source.js";
import { TokenRejected } from "../jwt/token-rejected.js";
import type { VerifiedToken } from "../jwt/verifier.js";
import { createAdminKeyCheck } from "./admin-key.js";
import type { CallContext, TokenServiceDeps, Trace } from "./types.js";
import { ErrorReason, keysUnavailable, refusal, tokenRefused } from "./error-reasons.js";

/** Who a call acts for: the holder of its bearer token, or an operator with the admin key. */
export interface Authentication {
  /** Verifies the bearer token; a bad one is UNAUTHENTICATED. */
  bearer(ctx: CallContext, trace: Trace): Promise<VerifiedToken>;
  /** Verifies a token sent as a request field (operators naming a token); a bad one is INVALID_ARGUMENT. */
  tokenArgument(token: string, trace: Trace): Promise<VerifiedToken>;
  /** Verifies a token sent as a request field; a bad one rejects with `TokenRejected`, as the verifier does. */
  verify(token: string): Promise<VerifiedToken>;
  /** Throws PERMISSION_DENIED unless the call carries the operator key. `action` names what was refused. */
  requireOperator(ctx: CallContext, action: string): void;
}

/** Builds the checks over the verifier and the configured admin key. */
export function createAuthentication(deps: Pick<TokenServiceDeps, "verifier" | "adminKey" | "maxTokenBytes">): Authentication {
  const checkAdminKey = deps.adminKey === undefined ? undefined : createAdminKeyCheck(deps.adminKey);
  const unavailableKeys = (err: unknown): unknown => (err instanceof KeysUnavailable ? keysUnavailable() : err);
  const rejectedAs =
    (code: Code, prefix: string) =>
    (err: unknown): never => {
      if (err instanceof TokenRejected) throw tokenRefused(err, code, prefix);
      throw unavailableKeys(err);
    };
  const verify = async (token: string): Promise<VerifiedToken> => {
    if (token.length > deps.maxTokenBytes) {
      throw new TokenRejected("TOKEN_MALFORMED", `Token is too long: the limit is ${deps.maxTokenBytes} bytes`);
    }
    return deps.verifier(token.trim()).catch((err: unknown) => {
      throw unavailableKeys(err);
    });
  };
  return {
    async bearer(ctx, trace) {
      try {
        const verified = await deps.verifier(parseBearer(ctx.requestHeader.get("authorization"), deps.maxTokenBytes));
        trace.fingerprint = verified.fingerprint;
        return verified;
      } catch (err) {
        return rejectedAs(Code.Unauthenticated, "")(err);
      }
    },
    async tokenArgument(token, trace) {
      try {
        const verified = await verify(token);
        trace.fingerprint = verified.fingerprint;
        return verified;
      } catch (err) {
        return rejectedAs(Code.InvalidArgument, "token: ")(err);
      }
    },
    verify,
    requireOperator(ctx, action) {
      if (checkAdminKey === undefined) {
        throw refusal(
          Code.PermissionDenied,
          ErrorReason.OPERATOR_ACTIONS_DISABLED,
          `${action} is disabled: set ADMIN_KEY on the server and send it in the x-admin-key header`,
        );
      }
      if (!checkAdminKey(ctx.requestHeader.get("x-admin-key"))) {
        throw refusal(
          Code.PermissionDenied,
          ErrorReason.OPERATOR_KEY_REQUIRED,
          `${action} needs the operator key in the x-admin-key header`,
        );
      }
    },
  };
}
