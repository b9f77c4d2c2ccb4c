import type { ChangeLog, Entry, LoggedChange, LogPosition } from "../store/revocation-store.js";
import { RevocationSet } from "./revocation-set.js";

/** Options for {@link StoreFollower}. */
export interface StoreFollowerOptions {
  log: ChangeLog;
  /** How often the log is read when no change was announced (a change announced is read at once). */
  readIntervalMs?: number;
  /** Recent changes kept, so a feed client that reconnects with a cursor gets only what it missed. */
  recentChanges?: number;
  /** Changes read from the store per round trip. */
  batch?: number;
  /** Told when a read of the store fails (it is retried at the next interval). */
  onError?: (err: Error) => void;
}

/** What a follower tells its watchers. */
export type FollowerEvent =
  | { kind: "change"; change: LoggedChange }
  /** The follower lost its place in the log and loaded a fresh snapshot: everything a watcher held is void. */
  | { kind: "reset" };

/** A watcher's place, when the follower still holds every change after a cursor. */
export type Resume = { held: true; changes: LoggedChange[] } | { held: false };

const DEFAULTS = { readIntervalMs: 1000, recentChanges: 50_000, batch: 1000 };

/**
 * Keeps a {@link RevocationSet} equal to the store's entries in force, in
 * this process: a snapshot (head, then entries, then the changes after the
 * head replayed over them, see {@link ChangeLog}), then every change, read
 * when the store announces one and at least every `readIntervalMs`. It keeps
 * the most recent changes for watchers that resume from a cursor. One per
 * process serves every WatchRevocations stream and, with
 * REVOCATION_CACHE=mirror, Info.
 */
export class StoreFollower {
  /** The entries in force, as of {@link position} (replaced whole by a new snapshot). */
  set = new RevocationSet();
  /** How far the set has read; undefined until the first snapshot is loaded. */
  position: LogPosition | undefined;
  /**
   * When the last read that reached the end of the log started (epoch ms):
   * the set holds every change made before it. Undefined before the first.
   */
  syncedAtMs: number | undefined;

  /** The store's change log this follows. */
  readonly log: ChangeLog;
  private readonly options: Required<Omit<StoreFollowerOptions, "onError">> & Pick<StoreFollowerOptions, "onError">;
  private readonly watchers = new Set<(event: FollowerEvent) => void>();
  /** Recent changes, oldest first; `base` is the position before the first. */
  private recent: LoggedChange[] = [];
  private base: LogPosition | undefined;
  /** Changes this process made and applied at once, by entry key: replayed older changes to that key are skipped until the log reaches them. */
  private readonly pinned = new Map<string, LoggedChange>();
  private reading: Promise<void> | undefined;
  private appliedCount = 0;
  private readAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private stopListening: (() => void) | undefined;
  private firstSync: Promise<void> | undefined;

  constructor(options: StoreFollowerOptions) {
    this.options = { ...DEFAULTS, ...options };
    this.log = options.log;
  }

  /** Starts following; resolves once the first snapshot is loaded (rejects if the store cannot give one; following goes on). */
  start(): Promise<void> {
    if (this.firstSync !== undefined) return this.firstSync;
    this.stopListening = this.options.log.onChange(() => void this.read());
    this.timer = setInterval(() => void this.read(), this.options.readIntervalMs);
    this.timer.unref();
    this.sweeper = setInterval(() => this.set.sweep(), 60_000);
    this.sweeper.unref();
    // Through read(), so the timer, the store's notifications and ready() never run a second read beside it.
    this.firstSync = this.read().then(() => {
      if (this.position === undefined) throw new Error("the store did not give a snapshot; retrying");
    });
    this.firstSync.catch(() => {}); // reported through onError; the interval retries
    return this.firstSync;
  }

  /** Waits for the first snapshot, retrying until it loads or `signal` aborts. */
  async ready(signal?: AbortSignal): Promise<void> {
    while (this.position === undefined) {
      signal?.throwIfAborted();
      await this.read();
      if (this.position === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): void {
    this.stopListening?.();
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    this.watchers.clear();
  }

  /** Milliseconds since the set was last known to hold every change; Infinity before the first snapshot. */
  lagMs(now = Date.now()): number {
    return this.syncedAtMs === undefined ? Number.POSITIVE_INFINITY : Math.max(0, now - this.syncedAtMs);
  }

  /** Streams watching now. */
  get watcherCount(): number {
    return this.watchers.size;
  }

  /** Tells `watcher` of every change applied from now on. Returns a stop function. */
  watch(watcher: (event: FollowerEvent) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** The changes after `cursor`, when the follower still holds them all. */
  resume(cursor: LogPosition): Resume {
    const base = this.base;
    const log = this.options.log;
    if (base === undefined || cursor.some((id, stream) => log.compareIds(id, base[stream]!) < 0)) return { held: false };
    return { held: true, changes: this.recent.filter((change) => log.compareIds(change.id, cursor[change.stream]!) > 0) };
  }

  /**
   * Applies a change this process just made, without waiting for the log:
   * Info through this instance sees its own writes at once. Older changes
   * to the same entry that the log replays later are skipped.
   */
  applyOwn(change: LoggedChange): void {
    // Already read from the log (and perhaps changed again since): the log's order stands.
    if (this.position === undefined || this.options.log.compareIds(change.id, this.position[change.stream]!) <= 0) return;
    this.pinned.set(change.key, change);
    this.set.apply(change.key, change.entry);
    void this.read();
  }

  /** Moves whenever the set changes from the log (a change applied, a snapshot loaded): a store call compares it before and after, see {@link applyFound}. */
  get applied(): number {
    return this.appliedCount;
  }

  /**
   * Applies an entry a store call just found in force (a revocation through
   * another instance the log has not delivered yet), unless the log applied
   * anything since the call began (`appliedBefore`): then the log may
   * already hold a later change to it, and the log's order stands.
   */
  applyFound(key: string, entry: Entry, appliedBefore: number): void {
    if (this.position === undefined || this.appliedCount !== appliedBefore || this.pinned.has(key)) return;
    this.set.apply(key, entry);
    void this.read();
  }

  /** Reads the log now (or once more after the read in progress). */
  read(): Promise<void> {
    if (this.reading !== undefined) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = this.syncOnce()
      .catch((err: unknown) => this.options.onError?.(err as Error))
      .finally(() => {
        this.reading = undefined;
        if (this.readAgain) {
          this.readAgain = false;
          void this.read();
        }
      });
    return this.reading;
  }

  private async syncOnce(): Promise<void> {
    const started = Date.now();
    const log = this.options.log;
    if (this.position === undefined) await this.loadSnapshot();
    for (;;) {
      const read = await log.changesAfter(this.position!, this.options.batch);
      if (read === "gone") {
        // The set stays in use, at its old position, until the new snapshot replaces it whole.
        await this.loadSnapshot();
        for (const watcher of this.watchers) watcher({ kind: "reset" });
        continue;
      }
      for (const change of read.changes) this.applyLogged(change);
      this.position = read.position;
      if (read.complete) break;
    }
    this.syncedAtMs = started;
  }

  private async loadSnapshot(): Promise<void> {
    const log = this.options.log;
    const head = await log.head();
    const entries: Array<[string, Entry]> = await log.entries();
    const set = new RevocationSet();
    for (const [key, entry] of entries) set.apply(key, entry);
    // This process's own changes past the head may be missing from the entries read: they stay applied.
    for (const [key, own] of this.pinned) {
      if (log.compareIds(own.id, head[own.stream]!) > 0) set.apply(key, own.entry);
      else this.pinned.delete(key);
    }
    this.set = set;
    this.appliedCount++;
    this.recent = [];
    this.base = head;
    this.position = head;
  }

  private applyLogged(change: LoggedChange): void {
    this.appliedCount++;
    const log = this.options.log;
    const own = this.pinned.get(change.key);
    if (own !== undefined) {
      if (log.compareIds(change.id, own.id) >= 0) this.pinned.delete(change.key);
      else {
        this.remember(change); // older than what this process already applied: kept for watchers, not applied
        return;
      }
    }
    this.set.apply(change.key, change.entry);
    this.remember(change);
  }

  private remember(change: LoggedChange): void {
    this.recent.push(change);
    if (this.recent.length > this.options.recentChanges * 1.25) {
      const dropped = this.recent.splice(0, this.recent.length - this.options.recentChanges);
      const base = [...this.base!];
      for (const old of dropped) base[old.stream] = old.id;
      this.base = base;
    }
    for (const watcher of this.watchers) watcher({ kind: "change", change });
  }
}
