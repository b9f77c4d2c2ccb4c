import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { eventFor, loggedChange } from "./audit-event.js";
import {
  InvalidCursor,
  StoreUnavailable,
  entryKey,
  matchOf,
  type AuditEvent,
  type ChangeLog,
  type ChangeRequest,
  type Entry,
  type EntryId,
  type Match,
  type TokenKeys,
  type RevocationStore,
  type RevokeRequest,
} from "./revocation-store.js";

/** Options for {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  path: string;
  /** Deadline of each call: one that cannot get the lock it needs by then answers StoreUnavailable. */
  timeoutMs: number;
  /** How often expired rows are deleted. */
  sweepIntervalMs?: number;
}

/** Expired rows deleted per sweep step; steps repeat, a turn of the event loop apart, until none are left. */
const SWEEP_BATCH = 1000;
/** How often the change log looks for commits by other processes sharing the file (while anyone listens). */
const CHANGE_POLL_MS = 10;
/** Longest pause between retries of a call that found the database locked. */
const MAX_RETRY_PAUSE_MS = 20;

/** The schema this code writes: `PRAGMA user_version`. */
const SCHEMA_VERSION = 1;

/**
 * Revocations in an embedded SQLite file: the single-node default, so the
 * service runs with nothing else installed and keeps revocations across
 * restarts. WAL with synchronous=FULL: an acknowledged change is on disk.
 * Each change and its audit event are one IMMEDIATE transaction, so the event
 * order is the order in which the changes took effect. Audit events are kept.
 *
 * It never blocks the event loop on a lock. Several processes may share the
 * file, but the connection's busy timeout is 0: a call that finds the
 * database locked retries after a pause, until its deadline, then answers
 * StoreUnavailable, so a lock held elsewhere costs only the calls that need
 * it. Checks are batched: all those made in one turn of the event loop run
 * together in one read transaction (like Redis auto-pipelining), which also
 * lets their answers leave together.
 */
export function openSqliteStore(options: SqliteStoreOptions): RevocationStore {
  let db: Database.Database;
  try {
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    // Start-up may wait for another process's migration longer than a call may wait for a lock.
    db = openFile(options.path, Math.max(options.timeoutMs, OPEN_TIMEOUT_MS));
  } catch (err) {
    throw new StoreUnavailable(`SQLITE_PATH: cannot open ${options.path}: ${(err as Error).message}`);
  }
  const live = "(expires_at_ms IS NULL OR expires_at_ms > @now)";
  const check = db
    .prepare<{ token: string; jti: string | null; subject: string | null; now: number }, [string, number | null]>(
      `SELECT key, issued_before_ms FROM entries WHERE key IN (@token, @jti, @subject) AND ${live}`,
    )
    .raw();
  const current = db.prepare<{ key: string; now: number }, { issued_before_ms: number | null; expires_at_ms: number | null }>(
    `SELECT issued_before_ms, expires_at_ms FROM entries WHERE key = @key AND ${live}`,
  );
  const upsert = db.prepare<{ key: string; issuedBeforeMs: number | null; expiresAtMs: number | null }>(
    `INSERT INTO entries (key, issued_before_ms, expires_at_ms) VALUES (@key, @issuedBeforeMs, @expiresAtMs)
     ON CONFLICT (key) DO UPDATE SET issued_before_ms = excluded.issued_before_ms, expires_at_ms = excluded.expires_at_ms`,
  );
  const remove = db.prepare<[string]>("DELETE FROM entries WHERE key = ?");
  const record = db.prepare<Record<string, unknown>>(
    `INSERT INTO audit_events (at_ms, action, scope, fingerprint, issuer, jti, subject, issued_before_ms, expires_at_ms, actor, client_id, reason)
     VALUES (@atMs, @action, @scope, @fingerprint, @issuer, @jti, @subject, @issuedBeforeMs, @expiresAtMs, @actor, @clientId, @reason)`,
  );
  const page = db.prepare<[number, number], EventRow>("SELECT * FROM audit_events WHERE id < ? ORDER BY id DESC LIMIT ?");
  const logHead = db.prepare<[], [number]>("SELECT COALESCE(MAX(id), 0) FROM audit_events").raw();
  const logAfter = db.prepare<[number, number], EventRow>("SELECT * FROM audit_events WHERE id > ? ORDER BY id LIMIT ?");
  const liveEntries = db
    .prepare<{ now: number }, [string, number | null, number | null]>(
      `SELECT key, issued_before_ms, expires_at_ms FROM entries WHERE ${live}`,
    )
    .raw();
  const sweep = db.prepare<[number, number]>("DELETE FROM entries WHERE key IN (SELECT key FROM entries WHERE expires_at_ms <= ? LIMIT ?)");
  // A write statement that matches no row: it needs the write lock and a writable file, and changes nothing.
  // (BEGIN IMMEDIATE alone succeeds on a read-only file.)
  const probe = db.prepare("DELETE FROM entries WHERE 0");
  const writeProbe = db.transaction(() => probe.run());

  /** Runs `action`; while the database is locked, again after a pause, until the deadline. */
  const run = <T>(action: () => T, deadline = Date.now() + options.timeoutMs, pause = 1): Promise<T> => {
    try {
      return Promise.resolve(action());
    } catch (err) {
      if (!isBusy(err)) return Promise.reject(new StoreUnavailable(`SQLite: ${(err as Error).message}`));
      if (Date.now() + pause >= deadline) {
        return Promise.reject(
          new StoreUnavailable("SQLite: the database is locked by another process and stayed locked past STORE_TIMEOUT_MS"),
        );
      }
      return new Promise<void>((resolve) => setTimeout(resolve, pause)).then(() =>
        run(action, deadline, Math.min(pause * 2, MAX_RETRY_PAUSE_MS)),
      );
    }
  };
  const entryOf = (row: { issued_before_ms: number | null; expires_at_ms: number | null } | undefined): Entry | undefined =>
    row === undefined ? undefined : { issuedBeforeMs: row.issued_before_ms ?? undefined, expiresAtMs: row.expires_at_ms ?? undefined };
  const addEvent = (
    id: EntryId,
    action: AuditEvent["action"],
    request: ChangeRequest,
    issuedBeforeMs?: number,
    expiresAtMs?: number,
  ): AuditEvent => {
    const event = eventFor(id, action, request, issuedBeforeMs, expiresAtMs);
    const { lastInsertRowid } = record.run({
      atMs: event.atMs,
      action: event.action,
      scope: event.scope,
      fingerprint: event.fingerprint ?? null,
      issuer: event.issuer ?? null,
      jti: event.jti ?? null,
      subject: event.subject ?? null,
      issuedBeforeMs: event.issuedBeforeMs ?? null,
      expiresAtMs: event.expiresAtMs ?? null,
      actor: event.actor,
      clientId: event.clientId ?? null,
      reason: event.reason ?? null,
    });
    event.id = String(lastInsertRowid);
    return event;
  };

  const revoke = db.transaction((id: EntryId, request: RevokeRequest) => {
    const now = Date.now();
    const key = entryKey(id);
    const existing = current.get({ key, now });
    const later = id.scope === "subject" && existing !== undefined && (existing.issued_before_ms ?? 0) < request.issuedBeforeMs!;
    const expired = request.expiresAtMs !== undefined && request.expiresAtMs <= now;
    if ((existing !== undefined && !later) || expired) return { changed: false, entry: entryOf(existing), event: undefined };
    const issuedBeforeMs = id.scope === "subject" ? request.issuedBeforeMs! : null;
    upsert.run({ key, issuedBeforeMs, expiresAtMs: request.expiresAtMs ?? null });
    const event = addEvent(id, "revoke", request, issuedBeforeMs ?? undefined, request.expiresAtMs);
    return { changed: true, entry: { issuedBeforeMs: issuedBeforeMs ?? undefined, expiresAtMs: request.expiresAtMs }, event };
  });
  const restore = db.transaction((id: EntryId, request: ChangeRequest) => {
    const key = entryKey(id);
    const existing = current.get({ key, now: Date.now() });
    remove.run(key);
    if (existing === undefined) return { changed: false, entry: undefined, event: undefined };
    return { changed: true, entry: undefined, event: addEvent(id, "restore", request) };
  });

  /** Deletes expired rows a batch at a time, a turn of the event loop apart, so a big sweep never holds the loop. */
  const sweepStep = () => {
    try {
      if (db.open && sweep.run(Date.now(), SWEEP_BATCH).changes === SWEEP_BATCH) setImmediate(sweepStep);
    } catch {
      // Locked or closing: the next sweep catches up, and expired rows never count.
    }
  };
  const sweeper = setInterval(sweepStep, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();

  // Checks made in one turn of the event loop, answered together by `checkBatch` on setImmediate.
  type PendingCheck = { keys: TokenKeys; resolve: (match: Match | undefined) => void; reject: (err: Error) => void };
  let pending: PendingCheck[] = [];
  const matchOfRows = (keys: TokenKeys, rows: Array<[string, number | null]>) => {
    let token: unknown;
    let jti: unknown;
    let subject: unknown;
    for (const [key, issuedBeforeMs] of rows) {
      if (key === keys.token) token = 1;
      else if (key === keys.jti) jti = 1;
      else subject = issuedBeforeMs;
    }
    return matchOf(token, jti, subject, keys.issuedAtMs);
  };
  const readBatch = db.transaction((batch: PendingCheck[], now: number) =>
    batch.map(({ keys }) => matchOfRows(keys, check.all({ token: keys.token, jti: keys.jti ?? null, subject: keys.subject ?? null, now }))),
  );
  const checkBatch = () => {
    const batch = pending;
    pending = [];
    run(() => readBatch.deferred(batch, Date.now())).then(
      (matches) => {
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(matches[i]);
      },
      (err: Error) => {
        for (const waiting of batch) waiting.reject(err);
      },
    );
  };

  // The change log's listeners: told after this process's own changes at once, and of other
  // processes' commits by polling PRAGMA data_version (it moves when another connection commits).
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  let seenVersion = -1;
  let poller: NodeJS.Timeout | undefined;
  const pollVersion = () => {
    try {
      const version = db.pragma("data_version", { simple: true }) as number;
      if (version !== seenVersion) {
        seenVersion = version;
        notify();
      }
    } catch {
      // Locked or closing: the next poll looks again.
    }
  };
  const afterChange = <T extends { changed: boolean }>(result: T): T => {
    if (result.changed) queueMicrotask(notify);
    return result;
  };

  const log: ChangeLog = {
    async head() {
      return [String(rows0(await run(() => logHead.all())))];
    },
    async entries() {
      const rows = await run(() => liveEntries.all({ now: Date.now() }));
      return rows.map(([key, issuedBeforeMs, expiresAtMs]) => [
        key,
        { issuedBeforeMs: issuedBeforeMs ?? undefined, expiresAtMs: expiresAtMs ?? undefined },
      ]);
    },
    async changesAfter(position, limit) {
      const after = Number(position[0]);
      const rows = await run(() => logAfter.all(after, limit));
      // Nothing after it: a position past the log's end was not handed out by this file (a restored
      // backup, a new file) and is not resumable. Asked only then, so a read costs one query.
      if (rows.length === 0 && after > 0 && rows0(await run(() => logHead.all())) < after) return "gone";
      const changes = rows.map((row) => loggedChange(0, String(row.id), eventOfRow(row)));
      return { changes, position: changes.length === 0 ? position : [changes.at(-1)!.id], complete: rows.length < limit };
    },
    changeOf: (event) => loggedChange(0, event.id, event),
    isPosition: (position) => position.length === 1 && /^(0|[1-9][0-9]{0,15})$/.test(position[0]!),
    compareIds: (a, b) => Number(a) - Number(b),
    onChange(listener) {
      listeners.add(listener);
      if (poller === undefined) {
        poller = setInterval(pollVersion, CHANGE_POLL_MS);
        poller.unref();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0 && poller !== undefined) {
          clearInterval(poller);
          poller = undefined;
        }
      };
    },
  };

  return {
    log,
    check(keys) {
      return new Promise((resolve, reject) => {
        if (pending.length === 0) setImmediate(checkBatch);
        pending.push({ keys, resolve, reject });
      });
    },
    revoke(id, request) {
      return run(() => revoke.immediate(id, request)).then(afterChange);
    },
    restore(id, request) {
      return run(() => restore.immediate(id, request)).then(afterChange);
    },
    async lookup(id) {
      return entryOf(await run(() => current.get({ key: entryKey(id), now: Date.now() })));
    },
    async history(limit, before) {
      if (before !== undefined && !/^[1-9][0-9]{0,15}$/.test(before))
        throw new InvalidCursor("page_token is not one this server handed out");
      const rows = await run(() => page.all(before === undefined ? Number.MAX_SAFE_INTEGER : Number(before), limit + 1));
      const events = rows.slice(0, limit).map(eventOfRow);
      return { events, next: rows.length > limit ? events.at(-1)!.id : undefined };
    },
    /** Ready means writes go through: a read-only file, or a write lock held past the deadline, is not ready. */
    async ping() {
      await run(() => writeProbe.immediate());
    },
    async close() {
      clearInterval(sweeper);
      if (poller !== undefined) clearInterval(poller);
      listeners.clear();
      if (db.open) db.close();
    },
  };
}

/** The one value of a one-row, one-column query. */
function rows0(rows: unknown[][]): number {
  return rows[0]![0] as number;
}

/** The least time opening the file waits for other processes' locks (WORKERS=N start together). */
const OPEN_TIMEOUT_MS = 10_000;

/**
 * Opens the file in WAL mode and brings its schema up to date. Opening may
 * wait for another process's lock (start-up only; after that, never): the
 * busy timeout covers most of it, but SQLite answers SQLITE_BUSY at once
 * where waiting could deadlock (two processes making a new file WAL at the
 * same moment, as WORKERS=N does), so the whole open is retried, blocking,
 * until `timeoutMs` has passed.
 */
function openFile(path: string, timeoutMs: number): Database.Database {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const db = new Database(path, { timeout: timeoutMs });
    try {
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      migrate(db);
      db.pragma("busy_timeout = 0");
      return db;
    } catch (err) {
      db.close();
      if (!isBusy(err) || Date.now() >= deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.random() * 20);
    }
  }
}

/** SQLITE_BUSY (another connection holds the lock) and SQLITE_LOCKED, with their extended codes. */
function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/** Creates the tables, or brings a file written by an earlier version up to {@link SCHEMA_VERSION} without losing a revocation. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`schema version ${version} is newer than this server (${SCHEMA_VERSION})`);
    if (version === SCHEMA_VERSION) return;
    db.exec(`CREATE TABLE IF NOT EXISTS entries (
      key TEXT PRIMARY KEY,
      issued_before_ms INTEGER,
      expires_at_ms INTEGER
    ) WITHOUT ROWID`);
    db.exec("CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at_ms)");
    db.exec(`CREATE TABLE IF NOT EXISTS audit_events (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at_ms INTEGER NOT NULL,
      action TEXT NOT NULL,
      scope TEXT NOT NULL,
      fingerprint TEXT,
      issuer TEXT,
      jti TEXT,
      subject TEXT,
      issued_before_ms INTEGER,
      actor TEXT NOT NULL,
      reason TEXT,
      client_id TEXT,
      expires_at_ms INTEGER
    )`);
    // Version 0 kept token revocations only, in `revocations`.
    const legacy = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'revocations'").get();
    if (legacy !== undefined) {
      db.exec(`INSERT INTO entries (key, issued_before_ms, expires_at_ms)
               SELECT fingerprint, NULL, expires_at_ms FROM revocations WHERE true
               ON CONFLICT (key) DO NOTHING`);
      db.exec("DROP TABLE revocations");
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
  // Added without a version bump, so an earlier server can still open the file (it ignores the column).
  db.transaction(() => {
    const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('audit_events')").all();
    if (!columns.some((c) => c.name === "client_id")) db.exec("ALTER TABLE audit_events ADD COLUMN client_id TEXT");
    if (!columns.some((c) => c.name === "expires_at_ms")) db.exec("ALTER TABLE audit_events ADD COLUMN expires_at_ms INTEGER");
  }).immediate();
}

interface EventRow {
  id: number;
  at_ms: number;
  action: AuditEvent["action"];
  scope: AuditEvent["scope"];
  fingerprint: string | null;
  issuer: string | null;
  jti: string | null;
  subject: string | null;
  issued_before_ms: number | null;
  expires_at_ms: number | null;
  actor: AuditEvent["actor"];
  client_id: string | null;
  reason: string | null;
}

function eventOfRow(row: EventRow): AuditEvent {
  return {
    id: String(row.id),
    atMs: row.at_ms,
    action: row.action,
    scope: row.scope,
    fingerprint: row.fingerprint ?? undefined,
    issuer: row.issuer ?? undefined,
    jti: row.jti ?? undefined,
    subject: row.subject ?? undefined,
    issuedBeforeMs: row.issued_before_ms ?? undefined,
    expiresAtMs: row.expires_at_ms ?? undefined,
    actor: row.actor,
    clientId: row.client_id ?? undefined,
    reason: row.reason ?? undefined,
  };
}
