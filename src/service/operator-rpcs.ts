import { Code } from "@connectrpc/connect";
import { timestampMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { jtiRevocationExpiresAtMs, subjectRevocationExpiresAtMs } from "../jwt/validity.js";
import type { Entry, EntryId } from "../store/revocation-store.js";
import { InvalidCursor } from "../store/revocation-store.js";
import { MAX_NAME_CHARS, nameArgument, reasonArgument, textArgument } from "./arguments.js";
import type { Authentication } from "./authentication.js";
import { observed } from "./observed.js";
import { auditEventView, instant, revocationView } from "./revocation-view.js";
import { storeCall } from "./store-calls.js";
import type { CallContext, TokenServiceDeps, TokenServiceHandlers } from "./types.js";
import { ErrorReason, refusal } from "./error-reasons.js";

/** History page size when the request leaves it at 0, and the largest allowed. */
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;

type OperatorRpcs = Pick<
  TokenServiceHandlers,
  "revokeJti" | "restoreJti" | "getJtiRevocation" | "revokeSubject" | "restoreSubject" | "getSubjectRevocation" | "history"
>;

/**
 * The operator RPCs: revoke, restore and look up a jti or a subject, and page
 * through the history. Every one needs the admin key, checked before its
 * arguments, so a caller without it learns nothing.
 */
export function operatorRpcs(deps: TokenServiceDeps, auth: Authentication): OperatorRpcs {
  const { store, observer } = deps;
  const toleranceMs = deps.clockToleranceSeconds * 1000;

  const issuerOf = (issuer: string) => textArgument(issuer, "issuer", { required: false, maxChars: MAX_NAME_CHARS }) || deps.issuer;
  const jtiId = (request: { jti: string; issuer: string }) =>
    ({ scope: "jti", issuer: issuerOf(request.issuer), jti: nameArgument(request.jti, "jti") }) as const;
  const subjectId = (request: { subject: string; issuer: string }) =>
    ({ scope: "subject", issuer: issuerOf(request.issuer), subject: nameArgument(request.subject, "subject") }) as const;
  const lookup = (id: EntryId) => storeCall(observer, "lookup", undefined, () => store.lookup(id));
  const operator = <Req, R>(rpc: string, run: (request: Req, ctx: CallContext) => Promise<R>) =>
    observed(observer, rpc, (request: Req, ctx) => {
      auth.requireOperator(ctx, rpc);
      return run(request, ctx);
    });
  /** Lifts a jti or subject entry; `said` is the info when it did and when there was none. */
  const restore = async (id: Exclude<EntryId, { scope: "token" }>, reasonText: string, said: [string, string], ctx: CallContext) => {
    const reason = reasonArgument(reasonText);
    const result = await storeCall(observer, "restore", undefined, () => store.restore(id, { actor: "admin", reason }), ctx.signal);
    if (result.event !== undefined) observer?.changed(result.event);
    return {
      success: true,
      info: result.changed ? said[0] : said[1],
      changed: result.changed,
      revocation: revocationView(id, result.entry),
    };
  };
  const subjectInfo = (entry: Entry | undefined) =>
    entry?.issuedBeforeMs === undefined ? "Subject is not revoked" : `Subject revoked at ${instant(entry.issuedBeforeMs)}`;

  return {
    revokeJti: operator("RevokeJti", async (request, ctx) => {
      const id = jtiId(request);
      const reason = reasonArgument(request.reason);
      const expiresAtMs = jtiRevocationExpiresAtMs(Date.now(), deps.maxLifetimeSeconds, toleranceMs);
      const result = await storeCall(
        observer,
        "revoke",
        undefined,
        () => store.revoke(id, { actor: "admin", reason, expiresAtMs }),
        ctx.signal,
      );
      if (result.event !== undefined) observer?.changed(result.event);
      return {
        success: true,
        info: result.changed ? "jti revoked" : "jti was already revoked",
        changed: result.changed,
        revocation: revocationView(id, result.entry),
      };
    }),

    restoreJti: operator("RestoreJti", (request, ctx) =>
      restore(jtiId(request), request.reason, ["jti restored", "jti was not revoked"], ctx),
    ),

    getJtiRevocation: operator("GetJtiRevocation", async (request) => {
      const id = jtiId(request);
      const entry = await lookup(id);
      return { success: true, info: entry === undefined ? "jti is not revoked" : "jti revoked", revocation: revocationView(id, entry) };
    }),

    revokeSubject: operator("RevokeSubject", async (request, ctx) => {
      const id = subjectId(request);
      const reason = reasonArgument(request.reason);
      const now = Date.now();
      const cutoffMs = request.issuedBefore === undefined ? now : cutoffOf(request.issuedBefore, now, toleranceMs);
      const expiresAtMs = subjectRevocationExpiresAtMs(cutoffMs, deps.maxLifetimeSeconds, toleranceMs);
      const result = await storeCall(
        observer,
        "revoke",
        undefined,
        () => store.revoke(id, { actor: "admin", reason, issuedBeforeMs: cutoffMs, expiresAtMs }),
        ctx.signal,
      );
      if (result.event !== undefined) observer?.changed(result.event);
      let info = subjectInfo(result.entry);
      if (!result.changed) {
        info =
          result.entry !== undefined
            ? `${info}: a cutoff at or after ${instant(cutoffMs)} is already in force`
            : `No token issued before ${instant(cutoffMs)} can still be valid: nothing to revoke`;
      }
      return { success: true, info, changed: result.changed, revocation: revocationView(id, result.entry) };
    }),

    restoreSubject: operator("RestoreSubject", (request, ctx) =>
      restore(subjectId(request), request.reason, ["Subject restored", "Subject was not revoked"], ctx),
    ),

    getSubjectRevocation: operator("GetSubjectRevocation", async (request) => {
      const id = subjectId(request);
      const entry = await lookup(id);
      return { success: true, info: subjectInfo(entry), revocation: revocationView(id, entry) };
    }),

    history: operator("History", async (request) => {
      const size = request.pageSize === 0 ? DEFAULT_PAGE_SIZE : request.pageSize;
      if (size < 1 || size > MAX_PAGE_SIZE) {
        throw refusal(
          Code.InvalidArgument,
          ErrorReason.ARGUMENT_INVALID,
          `page_size must be from 1 to ${MAX_PAGE_SIZE} (0 means ${DEFAULT_PAGE_SIZE})`,
          {
            field: "page_size",
          },
        );
      }
      const before = request.pageToken === "" ? undefined : request.pageToken;
      const page = await storeCall(observer, "history", undefined, () => store.history(size, before)).catch((err: unknown) => {
        if (err instanceof InvalidCursor)
          throw refusal(Code.InvalidArgument, ErrorReason.ARGUMENT_INVALID, err.message, { field: "page_token" });
        throw err;
      });
      return { success: true, events: page.events.map(auditEventView), nextPageToken: page.next ?? "" };
    }),
  };
}

const cutoffInvalid = (message: string) => refusal(Code.InvalidArgument, ErrorReason.ARGUMENT_INVALID, message, { field: "issued_before" });

/** A requested cutoff in ms; a little ahead of our clock (skew) means now, further ahead is refused. */
function cutoffOf(timestamp: Timestamp, now: number, toleranceMs: number): number {
  // Whole milliseconds, rounded up: a sub-millisecond cutoff revokes the token issued in that millisecond.
  const ms = Math.ceil(timestampMs(timestamp));
  if (!Number.isFinite(ms) || ms < 0) throw cutoffInvalid("issued_before must be a time after 1970");
  if (ms > now + toleranceMs) {
    throw cutoffInvalid("issued_before is in the future; a cutoff may be at most now");
  }
  return Math.min(ms, now);
}
