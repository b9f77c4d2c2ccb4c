import type { JsonObject } from "@bufbuild/protobuf";
import { fingerprint } from "../jwt/fingerprint.js";
import { TokenRejected } from "../jwt/token-rejected.js";
import type { VerifiedToken } from "../jwt/verifier.js";
import { StoreUnavailable, type Actor, type Match } from "../store/revocation-store.js";
import { reasonArgument, textArgument } from "./arguments.js";
import type { Authentication } from "./authentication.js";
import { observed } from "./observed.js";
import { describeMatch, scopeOf, tokenRevoked } from "./revocation-view.js";
import { keysOf, storeCall, storeUnavailable, tokenEntryId } from "./store-calls.js";
import type { CallContext, TokenServiceDeps, TokenServiceHandlers, Trace } from "./types.js";

/** The RPCs about one token: Info (the hot path), Blacklist, Unblacklist and InspectToken. */
export function tokenRpcs(
  deps: TokenServiceDeps,
  auth: Authentication,
): Pick<TokenServiceHandlers, "info" | "blacklist" | "unblacklist" | "inspectToken"> {
  const { store, observer } = deps;

  /** The token named by the request's `token` field (an operator action), else the bearer token (its holder). */
  const target = async (token: string, ctx: CallContext, trace: Trace, action: string) => {
    if (token === "") return { verified: await auth.bearer(ctx, trace), actor: "self" as Actor };
    auth.requireOperator(ctx, action);
    return { verified: await auth.tokenArgument(token, trace), actor: "admin" as Actor };
  };
  const revocationOf = (verified: VerifiedToken): Promise<Match | undefined> =>
    storeCall(observer, "check", verified.fingerprint, () => store.check(keysOf(verified)));

  return {
    info: observed(observer, "Info", async (_request, ctx, trace) => {
      const verified = await auth.bearer(ctx, trace);
      const fp = verified.fingerprint;
      let info = "Token is valid";
      let match: Match | undefined;
      try {
        match = await store.check(keysOf(verified));
      } catch (err) {
        if (!(err instanceof StoreUnavailable)) throw err;
        observer?.storeError("check", fp, err);
        if (!deps.failOpen) throw storeUnavailable();
        observer?.failedOpen(fp);
        info = "Token is valid; revocation NOT checked: the store is unavailable and FAIL_OPEN=true";
      }
      if (match !== undefined) throw tokenRevoked(match);
      return { success: true, token: verified.token, decodedToken: verified.claims as JsonObject, info };
    }),

    blacklist: observed(observer, "Blacklist", async (request, ctx, trace) => {
      const reason = reasonArgument(request.reason);
      const { verified, actor } = await target(request.token, ctx, trace, "Revoking a token other than your bearer token");
      const fp = verified.fingerprint;
      // Say so when a jti or subject revocation already covered it: the caller may think it was valid.
      const before = await revocationOf(verified);
      const covered = before !== undefined && before.scope !== "token" ? before : undefined;
      const result = await storeCall(
        observer,
        "revoke",
        fp,
        () =>
          store.revoke(tokenEntryId(verified), {
            actor,
            reason,
            expiresAtMs: verified.revocationExpiresAtMs,
            context: { jti: verified.jti, subject: verified.subject },
          }),
        ctx.signal,
      );
      if (result.event !== undefined) observer?.changed(result.event);
      return {
        success: true,
        token: verified.token,
        info:
          (result.changed ? "Token blacklisted" : "Token was already blacklisted") +
          (covered === undefined ? "" : `; it was already revoked: ${describeMatch(covered)}`),
        newlyBlacklisted: result.changed,
        revokedBy: scopeOf(covered),
      };
    }),

    unblacklist: observed(observer, "Unblacklist", async (request, ctx, trace) => {
      auth.requireOperator(ctx, "Unblacklist");
      const reason = reasonArgument(request.reason);
      // The key is checked above, so a `token` field needs no second check.
      const verified = request.token === "" ? await auth.bearer(ctx, trace) : await auth.tokenArgument(request.token, trace);
      const fp = verified.fingerprint;
      const result = await storeCall(
        observer,
        "restore",
        fp,
        () => store.restore(tokenEntryId(verified), { actor: "admin", reason, context: { jti: verified.jti, subject: verified.subject } }),
        ctx.signal,
      );
      if (result.event !== undefined) observer?.changed(result.event);
      // Lifting the token scope does not lift a jti or subject revocation: say so.
      const still = await revocationOf(verified);
      const info = result.changed ? "Token unblacklisted" : "Token was not blacklisted";
      return {
        success: true,
        token: verified.token,
        info: still === undefined ? info : `${info}; it is still revoked: ${describeMatch(still)}`,
        wasBlacklisted: result.changed,
        revokedBy: scopeOf(still),
      };
    }),

    inspectToken: observed(observer, "InspectToken", async (request, ctx, trace) => {
      auth.requireOperator(ctx, "InspectToken");
      const token = textArgument(request.token, "token", { required: true, maxChars: deps.maxTokenBytes });
      let verified: VerifiedToken;
      try {
        verified = await auth.verify(token);
      } catch (err) {
        if (!(err instanceof TokenRejected)) throw err;
        return { success: true, valid: false, verified: false, info: err.message, fingerprint: fingerprint(token.trim()) };
      }
      trace.fingerprint = verified.fingerprint;
      const match = await revocationOf(verified);
      return {
        success: true,
        valid: match === undefined,
        verified: true,
        info: match === undefined ? "Token is valid" : describeMatch(match),
        fingerprint: verified.fingerprint,
        revokedBy: scopeOf(match),
        decodedToken: verified.claims as JsonObject,
      };
    }),
  };
}
