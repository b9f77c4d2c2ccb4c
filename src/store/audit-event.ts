import type { AuditEvent, ChangeRequest, EntryId } from "./revocation-store.js";

/**
 * The audit event for a change, as the caller describes it. The store assigns
 * `id` (and, for Redis, `atMs` from the stream id) when it records it.
 */
export function eventFor(id: EntryId, action: AuditEvent["action"], request: ChangeRequest, issuedBeforeMs?: number): AuditEvent {
  const event: AuditEvent = { id: "", atMs: Date.now(), action, scope: id.scope, actor: request.actor };
  if (id.scope === "token") {
    event.fingerprint = id.fingerprint;
    if (request.context?.jti !== undefined) event.jti = request.context.jti;
    if (request.context?.subject !== undefined) event.subject = request.context.subject;
  } else {
    event.issuer = id.issuer;
    if (id.scope === "jti") event.jti = id.jti;
    else event.subject = id.subject;
  }
  if (issuedBeforeMs !== undefined) event.issuedBeforeMs = issuedBeforeMs;
  if (request.reason !== "") event.reason = request.reason;
  if (request.clientId !== undefined) event.clientId = request.clientId;
  return event;
}
