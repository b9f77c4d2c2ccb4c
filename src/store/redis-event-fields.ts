import type { AuditEvent } from "./revocation-store.js";

/** Stream field names: one letter each, as the stream holds up to historyMaxEvents of them. */
const FIELDS = {
  action: "a",
  scope: "s",
  fingerprint: "f",
  issuer: "i",
  jti: "j",
  subject: "u",
  issuedBeforeMs: "c",
  expiresAtMs: "x",
  actor: "w",
  clientId: "k",
  reason: "r",
} as const;

/** The stream fields of an event. */
export function fields(event: AuditEvent): string[] {
  const out: string[] = [];
  for (const [name, field] of Object.entries(FIELDS)) {
    const value = event[name as keyof typeof FIELDS];
    if (value !== undefined) out.push(field, String(value));
  }
  return out;
}

/** The event as recorded: its stream id, and the time Redis gave that id. */
export function stamped(event: AuditEvent, streamId: string): AuditEvent {
  return { ...event, id: streamId, atMs: Number(streamId.slice(0, streamId.indexOf("-"))) };
}

/** The event a stream entry records, with its cursor as id. */
export function eventOfFields(streamId: string, values: string[]): AuditEvent {
  const byField = new Map<string, string>();
  for (let i = 0; i + 1 < values.length; i += 2) byField.set(values[i]!, values[i + 1]!);
  const cutoff = byField.get(FIELDS.issuedBeforeMs);
  const expiry = byField.get(FIELDS.expiresAtMs);
  return stamped(
    {
      id: "",
      atMs: 0,
      action: byField.get(FIELDS.action) as AuditEvent["action"],
      scope: byField.get(FIELDS.scope) as AuditEvent["scope"],
      fingerprint: byField.get(FIELDS.fingerprint),
      issuer: byField.get(FIELDS.issuer),
      jti: byField.get(FIELDS.jti),
      subject: byField.get(FIELDS.subject),
      issuedBeforeMs: cutoff === undefined ? undefined : Number(cutoff),
      expiresAtMs: expiry === undefined ? undefined : Number(expiry),
      actor: byField.get(FIELDS.actor) as AuditEvent["actor"],
      clientId: byField.get(FIELDS.clientId),
      reason: byField.get(FIELDS.reason),
    },
    streamId,
  );
}
