import { matchOf, type Entry, type Match, type TokenKeys } from "../store/revocation-store.js";

/**
 * Expiries are kept as whole seconds after this instant (2024-01-01), rounded
 * up: small integers V8 stores inline, so a million entries cost a key and a
 * slot each. An entry then lasts up to a second longer than in the store,
 * which errs on the side of refusing.
 */
const EPOCH_S = 1_704_067_200;
/** Stored for an entry that never expires. */
const NEVER = 0;

const toSlot = (expiresAtMs: number | undefined): number =>
  expiresAtMs === undefined ? NEVER : Math.max(1, Math.ceil(expiresAtMs / 1000) - EPOCH_S);
const fromSlot = (slot: number): number | undefined => (slot === NEVER ? undefined : (slot + EPOCH_S) * 1000);

/**
 * The revocations in force, in memory, by entry key (see `entryKey`): what a
 * follower of the revocation feed holds, on the server (REVOCATION_CACHE=
 * mirror, and the feed it serves) and in other services
 * (`token-blacklist/client`). {@link check} answers as the store's `check`
 * does; entries past their expiry stop counting at once and are dropped by
 * {@link sweep}.
 */
export class RevocationSet {
  /** Token and jti entries: key to expiry slot. */
  private readonly plain = new Map<string, number>();
  /** Subject entries: key to [cutoff ms, expiry slot]. */
  private readonly subjects = new Map<string, [number, number]>();

  /** Entries held, expired ones not yet swept included. */
  get size(): number {
    return this.plain.size + this.subjects.size;
  }

  /** Adds or replaces an entry (`entry`), or removes it (undefined). */
  apply(key: string, entry: Entry | undefined): void {
    if (entry === undefined) {
      this.plain.delete(key);
      this.subjects.delete(key);
    } else if (key.startsWith("s:")) {
      this.subjects.set(key, [entry.issuedBeforeMs ?? 0, toSlot(entry.expiresAtMs)]);
    } else {
      this.plain.set(key, toSlot(entry.expiresAtMs));
    }
  }

  /** Forgets every entry (before a fresh snapshot). */
  clear(): void {
    this.plain.clear();
    this.subjects.clear();
  }

  /** Which scope revokes a token with these keys, as the store would answer. */
  check(keys: TokenKeys, nowMs = Date.now()): Match | undefined {
    const nowSlot = Math.ceil(nowMs / 1000) - EPOCH_S;
    const live = (slot: number | undefined) => slot !== undefined && (slot === NEVER || slot >= nowSlot);
    const token = live(this.plain.get(keys.token)) ? 1 : null;
    const jti = keys.jti !== undefined && live(this.plain.get(keys.jti)) ? 1 : null;
    const subject = keys.subject === undefined ? undefined : this.subjects.get(keys.subject);
    return matchOf(token, jti, subject !== undefined && live(subject[1]) ? subject[0] : null, keys.issuedAtMs);
  }

  /** Every entry in force, by key. */
  *entries(nowMs = Date.now()): Generator<[string, Entry]> {
    const nowSlot = Math.ceil(nowMs / 1000) - EPOCH_S;
    for (const [key, slot] of this.plain) {
      if (slot === NEVER || slot >= nowSlot) yield [key, { issuedBeforeMs: undefined, expiresAtMs: fromSlot(slot) }];
    }
    for (const [key, [cutoff, slot]] of this.subjects) {
      if (slot === NEVER || slot >= nowSlot) yield [key, { issuedBeforeMs: cutoff, expiresAtMs: fromSlot(slot) }];
    }
  }

  /** Drops entries past their expiry; returns how many. */
  sweep(nowMs = Date.now()): number {
    const nowSlot = Math.ceil(nowMs / 1000) - EPOCH_S;
    let dropped = 0;
    for (const [key, slot] of this.plain) {
      if (slot !== NEVER && slot < nowSlot) {
        this.plain.delete(key);
        dropped++;
      }
    }
    for (const [key, [, slot]] of this.subjects) {
      if (slot !== NEVER && slot < nowSlot) {
        this.subjects.delete(key);
        dropped++;
      }
    }
    return dropped;
  }
}
