import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectError } from "@connectrpc/connect";
import {
  AuditAction,
  AuditActor,
  RevocationScope,
  RevocationScopeSchema,
  type AuditEventSchema,
  type RevocationSchema,
} from "../../gen/tokens/v1/token_service_pb.js";
import type { AuditEvent, Entry, EntryId, Match, Scope } from "../store/revocation-store.js";
import { ErrorReason, refusal } from "./error-reasons.js";

/** The proto enum for a store scope. */
const SCOPE: Record<Scope, RevocationScope> = {
  token: RevocationScope.TOKEN,
  jti: RevocationScope.JTI,
  subject: RevocationScope.SUBJECT,
};

/** The proto scope of what revokes a token, or UNSPECIFIED when nothing does. */
export const scopeOf = (match: Match | undefined): RevocationScope =>
  match === undefined ? RevocationScope.UNSPECIFIED : SCOPE[match.scope];

/** A cutoff as people read it: RFC 3339 with milliseconds, UTC. */
export const instant = (ms: number) => new Date(ms).toISOString();

/**
 * What a caller is told about a revoked token: which scope matched. "Token is
 * blacklisted" is the original service's message for the token scope.
 */
export function describeMatch(match: Match): string {
  switch (match.scope) {
    case "token":
      return "Token is blacklisted";
    case "jti":
      return "jti revoked";
    case "subject":
      return `Subject revoked at ${instant(match.issuedBeforeMs)}`;
  }
}

/** The proto names of the scopes ("REVOCATION_SCOPE_TOKEN"...), as ErrorInfo metadata carries them. */
const SCOPE_NAME = Object.fromEntries(RevocationScopeSchema.values.map((value) => [value.number, value.name])) as Record<
  RevocationScope,
  string
>;

/**
 * A revoked token's refusal: UNAUTHENTICATED, reason TOKEN_REVOKED with the
 * scope that matched (and a subject cutoff as `issued_before`).
 */
export function tokenRevoked(match: Match): ConnectError {
  const metadata: Record<string, string> = { scope: SCOPE_NAME[SCOPE[match.scope]] };
  if (match.scope === "subject") metadata.issued_before = instant(match.issuedBeforeMs);
  return refusal(Code.Unauthenticated, ErrorReason.TOKEN_REVOKED, describeMatch(match), metadata);
}

/** A jti or subject entry as the API shows it. */
export function revocationView(
  id: Exclude<EntryId, { scope: "token" }>,
  entry: Entry | undefined,
): MessageInitShape<typeof RevocationSchema> {
  return {
    scope: SCOPE[id.scope],
    issuer: id.issuer,
    jti: id.scope === "jti" ? id.jti : "",
    subject: id.scope === "subject" ? id.subject : "",
    revoked: entry !== undefined,
    issuedBefore: entry?.issuedBeforeMs === undefined ? undefined : timestampFromMs(entry.issuedBeforeMs),
    expiresAt: entry?.expiresAtMs === undefined ? undefined : timestampFromMs(entry.expiresAtMs),
  };
}

const ACTOR = { self: AuditActor.SELF, admin: AuditActor.ADMIN, client: AuditActor.OAUTH_CLIENT } as const;

/** An audit event as History shows it. */
export function auditEventView(event: AuditEvent): MessageInitShape<typeof AuditEventSchema> {
  return {
    id: event.id,
    time: timestampFromMs(event.atMs),
    action: event.action === "revoke" ? AuditAction.REVOKE : AuditAction.RESTORE,
    scope: SCOPE[event.scope],
    fingerprint: event.fingerprint ?? "",
    issuer: event.issuer ?? "",
    jti: event.jti ?? "",
    subject: event.subject ?? "",
    issuedBefore: event.issuedBeforeMs === undefined ? undefined : timestampFromMs(event.issuedBeforeMs),
    actor: ACTOR[event.actor],
    clientId: event.clientId ?? "",
    reason: event.reason ?? "",
  };
}
