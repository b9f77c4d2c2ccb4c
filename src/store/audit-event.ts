import { entryKey, type AuditEvent, type ChangeRequest, type EntryId, type LoggedChange } from "./revocation-store.js";

/**
 * The audit event for a change, as the caller describes it. The store assigns
 * `id` (and, for Redis, `atMs` from the stream id) when it records it.
 */
export function eventFor(
  id: EntryId,
  action: AuditEvent["action"],
  request: ChangeRequest,
  issuedBeforeMs?: number,
  expiresAtMs?: number,
): AuditEvent {
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
  if (expiresAtMs !== undefined) event.expiresAtMs = expiresAtMs;
  if (request.reason !== "") event.reason = request.reason;
  if (request.clientId !== undefined) event.clientId = request.clientId;
  return event;
}

/** {@link entryKey} of the entry an event is about. */
function entryKeyOf(event: AuditEvent): string {
  if (event.scope === "token") return entryKey({ scope: "token", fingerprint: event.fingerprint ?? "" });
  if (event.scope === "jti") return entryKey({ scope: "jti", issuer: event.issuer ?? "", jti: event.jti ?? "" });
  return entryKey({ scope: "subject", issuer: event.issuer ?? "", subject: event.subject ?? "" });
}

/** The change log's record of an event: its stream and id there, its entry key and what the entry became. */
export function loggedChange(stream: number, id: string, event: AuditEvent): LoggedChange {
  return {
    stream,
    id,
    key: entryKeyOf(event),
    action: event.action,
    entry: event.action === "revoke" ? { issuedBeforeMs: event.issuedBeforeMs, expiresAtMs: event.expiresAtMs } : undefined,
  };
}
