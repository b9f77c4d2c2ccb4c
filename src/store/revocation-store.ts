/**
 * The revocation store contract. Every implementation passes the same contract
 * suite (test/store-contract.test.ts). Token entries are keyed by fingerprint,
 * never by the token.
 */

/** What a revocation entry matches: one token, a jti, or a subject's tokens issued before a cutoff. */
export type Scope = "token" | "jti" | "subject";

/** Names one entry: what its key ({@link entryKey}) is made of. */
export type EntryName =
  | { scope: "token"; fingerprint: string }
  | { scope: "jti"; issuer: string; jti: string }
  | { scope: "subject"; issuer: string; subject: string };

/**
 * One entry, as the store's calls take it. A token entry says which entry it
 * goes with (`placedWith`: the {@link entryKey} of its jti entry for a token
 * with `jti`, else of its subject entry for a token with `sub`, else
 * undefined): on a Redis Cluster both then live in one slot and a check
 * reads them with one command. Every call about one token entry must give
 * the same `placedWith` (the verified token's, see `tokenEntryId`); the
 * field is required so that every caller decides.
 */
export type EntryId =
  | { scope: "token"; fingerprint: string; placedWith: string | undefined }
  | { scope: "jti"; issuer: string; jti: string }
  | { scope: "subject"; issuer: string; subject: string };

/** The store key of an entry: the fingerprint, or a `j:`/`s:` prefixed JSON pair (fingerprints are base64url, so never collide). */
export function entryKey(id: EntryName): string {
  switch (id.scope) {
    case "token":
      return id.fingerprint;
    case "jti":
      return `${issuerPrefix("j", id.issuer)}${JSON.stringify(id.jti)}]`;
    case "subject":
      return `${issuerPrefix("s", id.issuer)}${JSON.stringify(id.subject)}]`;
  }
}

/**
 * `j:["<issuer>",` (the JSON array's opening). Info builds two of these keys
 * per call, almost always for the one configured issuer: the last prefix of
 * each kind is kept.
 */
const lastPrefix = { j: { issuer: "", prefix: 'j:["",' }, s: { issuer: "", prefix: 's:["",' } };
function issuerPrefix(kind: "j" | "s", issuer: string): string {
  const last = lastPrefix[kind];
  if (last.issuer !== issuer) {
    last.issuer = issuer;
    last.prefix = `${kind}:[${JSON.stringify(issuer)},`;
  }
  return last.prefix;
}

/** The keys Info checks for one token, and when it was issued. */
export interface TokenKeys {
  /** {@link entryKey} of the token scope. */
  token: string;
  /** {@link entryKey} of its jti scope, when the token has a jti. */
  jti: string | undefined;
  /** {@link entryKey} of its subject scope, when the token has a sub. */
  subject: string | undefined;
  /** `iat` in whole epoch ms (a fractional `iat` keeps its milliseconds); 0 without `iat`. */
  issuedAtMs: number;
}

/** Why a token is revoked. Token scope wins over jti, jti over subject, when several match. */
export type Match = { scope: "token" } | { scope: "jti" } | { scope: "subject"; issuedBeforeMs: number };

/** An entry in force. */
export interface Entry {
  /** Subject scope: tokens issued before this (epoch ms) are revoked. */
  issuedBeforeMs: number | undefined;
  /** When the entry disappears by itself (epoch ms); undefined: never. */
  expiresAtMs: number | undefined;
}

/** Who made a change: the token's holder, an operator, or an OAuth client (RFC 7009 revocation). */
export type Actor = "self" | "admin" | "client";

/** The change a caller asks for, with what the audit event records besides the entry. */
export interface ChangeRequest {
  actor: Actor;
  /** With actor "client": its client_id. */
  clientId?: string | undefined;
  /** Free text from the operator; "" for none. */
  reason: string;
  /** Token scope only: the token's jti and sub, recorded for context. */
  context?: { jti?: string | undefined; subject?: string | undefined };
}

/** A revocation to add. */
export interface RevokeRequest extends ChangeRequest {
  /** Subject scope: the cutoff (epoch ms). A later cutoff replaces an earlier one; an earlier one changes nothing. */
  issuedBeforeMs?: number;
  /** When the entry may be forgotten (epoch ms); undefined: never. Must be in the future. */
  expiresAtMs: number | undefined;
}

/** One recorded change. Never holds a token: token entries are recorded by fingerprint. */
export interface AuditEvent {
  /** Store-assigned, ordered: a later change has a later id (see {@link RevocationStore.history}). */
  id: string;
  atMs: number;
  action: "revoke" | "restore";
  scope: Scope;
  fingerprint?: string | undefined;
  issuer?: string | undefined;
  jti?: string | undefined;
  subject?: string | undefined;
  issuedBeforeMs?: number | undefined;
  /** Revoke events: when the entry expires (epoch ms); undefined: never, or not recorded (events of earlier versions). */
  expiresAtMs?: number | undefined;
  actor: Actor;
  /** With actor "client": its client_id. */
  clientId?: string | undefined;
  reason?: string | undefined;
}

/** The outcome of a revoke or restore. */
export interface ChangeResult {
  /** True when this call changed the entry (and recorded `event`). */
  changed: boolean;
  /** The entry after the call; undefined when none is in force. */
  entry: Entry | undefined;
  event: AuditEvent | undefined;
}

/** One page of history. */
export interface HistoryPage {
  /** Newest first. */
  events: AuditEvent[];
  /** Pass as `before` for the next, older page; undefined on the last page. */
  next: string | undefined;
}

/** The store. Every call is one round trip; a change and its audit event are one atomic step. */
export interface RevocationStore {
  /** Which scope revokes the token, or undefined. One round trip for all three scopes. */
  check(keys: TokenKeys): Promise<Match | undefined>;
  /**
   * Adds a revocation (a no-op, `changed: false`, when it is already in force,
   * or when `expiresAtMs` has passed so there is nothing left to revoke).
   */
  revoke(id: EntryId, request: RevokeRequest): Promise<ChangeResult>;
  /** Lifts a revocation (`changed: false` when none was in force). */
  restore(id: EntryId, request: ChangeRequest): Promise<ChangeResult>;
  /** The entry in force, or undefined. */
  lookup(id: EntryId): Promise<Entry | undefined>;
  /** Audit events older than `before` (a previous page's `next`), newest first. Rejects a malformed cursor with {@link InvalidCursor}. */
  history(limit: number, before: string | undefined): Promise<HistoryPage>;
  /** Resolves when the store answers; rejects with {@link StoreUnavailable} otherwise. */
  ping(): Promise<void>;
  /** Releases connections and files. */
  close(): Promise<void>;
  /** The change log, for the revocation feed. */
  readonly log: ChangeLog;
}

/**
 * A point in a store's change log: one event id per stream, in stream order
 * (SQLite and one Redis have one stream; a Cluster has one per bucket).
 */
export type LogPosition = readonly string[];

/** One change as the revocation feed needs it: which entry, and what it became. */
export interface LoggedChange {
  /** The stream it is in, and its id there. */
  stream: number;
  id: string;
  /** {@link entryKey} of the entry. */
  key: string;
  action: "revoke" | "restore";
  /** Revoke: the entry as it now stands. */
  entry: Entry | undefined;
}

/** Changes after a position, oldest first within each stream, and the position after them. */
export interface LogRead {
  changes: LoggedChange[];
  position: LogPosition;
  /** False when some change was left for the next read (`limit`). */
  complete: boolean;
}

/**
 * The store's changes as a log a follower can replay (the revocation feed,
 * issue 15). Consistency comes from order: read {@link head}, then
 * {@link entries}, then replay {@link changesAfter} the head over them; a
 * change made while the entries were read is then applied twice, which is
 * harmless, and none is missed. Never a keyspace scan: entries come from an
 * index of entries in force, changes from the audit log.
 */
export interface ChangeLog {
  /** Where the log ends now. */
  head(): Promise<LogPosition>;
  /** Every entry in force, by {@link entryKey}. */
  entries(): Promise<Array<[string, Entry]>>;
  /** Changes after `position`, at most about `limit`; "gone" when the log no longer holds them all. */
  changesAfter(position: LogPosition, limit: number): Promise<LogRead | "gone">;
  /** The log's record of a change this store just made and returned (its `event`). */
  changeOf(event: AuditEvent): LoggedChange;
  /** Whether `position` is one this log could hand out (right number of streams, well-formed ids). */
  isPosition(position: readonly string[]): boolean;
  /** Orders two ids of one stream: negative when `a` is earlier. */
  compareIds(a: string, b: string): number;
  /** Calls `listener` soon after any instance makes a change (a hint: it may also call when none was made). Returns a stop function. */
  onChange(listener: () => void): () => void;
}

/** The store could not be reached or did not answer in time; the caller should retry. */
export class StoreUnavailable extends Error {
  override name = "StoreUnavailable";
}

/**
 * A change was made on the master but not confirmed by the replicas it must
 * reach (REDIS_WAIT_REPLICAS) in time: a failover now could lose it. The
 * caller cannot know whether it stands; changes are idempotent, so retrying is
 * the answer.
 */
export class ChangeUnconfirmed extends StoreUnavailable {
  override name = "ChangeUnconfirmed";
}

/** A history cursor this store did not hand out. */
export class InvalidCursor extends Error {
  override name = "InvalidCursor";
}

/** Reads a `check` answer from the values stored under the token, jti and subject keys (absent: undefined/null). */
export function matchOf(token: unknown, jti: unknown, subject: unknown, issuedAtMs: number): Match | undefined {
  if (token !== null && token !== undefined) return { scope: "token" };
  if (jti !== null && jti !== undefined) return { scope: "jti" };
  if (subject !== null && subject !== undefined) {
    const issuedBeforeMs = Number(subject);
    if (issuedAtMs < issuedBeforeMs) return { scope: "subject", issuedBeforeMs };
  }
  return undefined;
}
