import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { StoreUnavailable, type RevocationStore } from "./revocation-store.js";

/** Options for {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  path: string;
  /** How long a write waits for another process's lock before failing. */
  timeoutMs: number;
  /** How often expired rows are deleted. */
  sweepIntervalMs?: number;
}

/**
 * Revocations in an embedded SQLite file: the single-node default, so the
 * service runs with nothing else installed and keeps revocations across
 * restarts. WAL with synchronous=FULL: an acknowledged revocation is on disk.
 * Several processes may share the file (busy_timeout).
 */
export function openSqliteStore(options: SqliteStoreOptions): RevocationStore {
  let db: Database.Database;
  try {
    if (options.path !== ":memory:") mkdirSync(dirname(options.path), { recursive: true });
    db = new Database(options.path, { timeout: options.timeoutMs });
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.exec(`CREATE TABLE IF NOT EXISTS revocations (
      fingerprint TEXT PRIMARY KEY,
      expires_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID`);
    db.exec("CREATE INDEX IF NOT EXISTS revocations_expiry ON revocations (expires_at_ms)");
  } catch (err) {
    throw new StoreUnavailable(`SQLITE_PATH: cannot open ${options.path}: ${(err as Error).message}`);
  }
  const check = db.prepare<[string, number]>(
    "SELECT 1 FROM revocations WHERE fingerprint = ? AND expires_at_ms > ?",
  ).pluck();
  // Inserts, or takes over a row that expired but was not swept yet.
  const insert = db.prepare<[string, number, number]>(
    `INSERT INTO revocations (fingerprint, expires_at_ms) VALUES (?, ?)
     ON CONFLICT (fingerprint) DO UPDATE SET expires_at_ms = excluded.expires_at_ms
     WHERE revocations.expires_at_ms <= ?`,
  );
  const remove = db.prepare<[string, number]>(
    "DELETE FROM revocations WHERE fingerprint = ? AND expires_at_ms > ?",
  );
  const sweep = db.prepare<[number]>("DELETE FROM revocations WHERE expires_at_ms <= ?");
  const probe = db.prepare("SELECT 1");
  const run = <T>(action: () => T): T => {
    try {
      return action();
    } catch (err) {
      throw new StoreUnavailable(`SQLite: ${(err as Error).message}`);
    }
  };
  const sweeper = setInterval(() => {
    try {
      sweep.run(Date.now());
    } catch {
      // Busy or closing: the next sweep catches up, and expired rows never count.
    }
  }, options.sweepIntervalMs ?? 60_000);
  sweeper.unref();
  return {
    async isRevoked(fingerprint) {
      return run(() => check.get(fingerprint, Date.now()) !== undefined);
    },
    async revoke(fingerprint, expiresAtMs) {
      const now = Date.now();
      if (expiresAtMs <= now) return false; // nothing left to revoke
      return run(() => insert.run(fingerprint, expiresAtMs, now).changes === 1);
    },
    async restore(fingerprint) {
      return run(() => remove.run(fingerprint, Date.now()).changes === 1);
    },
    async ping() {
      run(() => probe.get());
    },
    async close() {
      clearInterval(sweeper);
      if (db.open) db.close();
    },
  };
}
