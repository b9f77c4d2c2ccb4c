import { InvalidCursor } from "./revocation-store.js";

/**
 * Where the Redis store's keys live. On one Redis (or a Sentinel-watched
 * master) an entry is `prefix + entryKey` and every audit event goes to one
 * stream, `prefix + "history"`, as before. On a Cluster, each entry belongs
 * to one of {@link CLUSTER_BUCKETS} buckets, picked by a hash of its
 * placement (its own key; a token entry goes with its jti's key, or without
 * a jti its subject's), and its key carries the bucket as a hash tag
 * (`prefix{7}...`); each bucket has its own stream and index in the same
 * slot, so the script that changes an entry and records the event stays
 * within one slot, and entries spread over the masters. History then merges
 * the buckets' streams, newest first. A subject cutoff is also copied into
 * every bucket ({@link subjectCopy}: no event, no index), so every key a
 * check reads shares one slot, and a check is one `MGET` on one master.
 */
export interface KeyLayout {
  /**
   * The bucket of an entry placed with `placement`: its own entry key, or for
   * a token entry the entry key of its jti (else of its subject; see
   * `EntryId`), so a check reads the token and jti keys from one slot. One
   * Redis: always 0.
   */
  bucketOf(placement: string): number;
  /** The Redis key of an entry, from its {@link entryKey} and its bucket. */
  entry(entryKey: string, bucket: number): string;
  /**
   * Where a check in `bucket` reads the subject entry `entryKey`: on a
   * Cluster, its copy in that bucket (`prefix{7}~s:...`, which no index,
   * stream or backfill treats as an entry); on one Redis, the entry itself.
   */
  subjectCopy(entryKey: string, bucket: number): string;
  /** How many buckets there are: 1, or {@link CLUSTER_BUCKETS}. */
  readonly buckets: number;
  /** The entry key and bucket of a Redis key that {@link entry} made, or undefined for any other key. */
  parseEntry(redisKey: string): { key: string; bucket: number } | undefined;
  /**
   * How the scripts number stream entries: "*" lets Redis do it (one stream);
   * "clock" takes the master's clock in microseconds, so the streams of
   * several masters merge in the order changes were made.
   */
  readonly streamIds: "*" | "clock";
  /** Every audit stream, by bucket: a change is recorded in its entry's bucket's stream (same slot). */
  readonly streams: readonly string[];
  /** The index of entries in force (a sorted set: entry key by expiry), by bucket. */
  readonly indexes: readonly string[];
  /**
   * The store's markers, by bucket (`index-ready`, the name earlier versions
   * gave them): written once when a service first opens the store (entries
   * written before indexes existed are then in the indexes), never deleted.
   * A Redis without one has lost the store's data in that bucket (it
   * restarted without persistence, was flushed, or is an empty server made
   * master), so every read that could take an absent entry for "not revoked"
   * reads its bucket's marker too and fails instead.
   */
  readonly markers: readonly string[];
  /** The pub/sub channel each change is announced on. */
  readonly channel: string;
  /** One probe key per bucket: readiness writes each, so it reaches every master in use. */
  readonly probes: readonly string[];
  /** The cursor of the event with stream id `id` in stream `bucket`. */
  cursorOf(id: string, bucket: number): string;
  /** Parses a cursor this layout handed out; {@link InvalidCursor} otherwise. */
  parseCursor(cursor: string): StreamPosition;
}

/** A point in the merged history: a stream id and the bucket it is from. */
export interface StreamPosition {
  ms: bigint;
  seq: bigint;
  bucket: number;
}

/** Buckets (hash tags, streams) of the Cluster layout. Fixed: changing it would move every key. */
export const CLUSTER_BUCKETS = 16;

const STREAM_ID = /^([0-9]{1,20})-([0-9]{1,20})$/;

/** The layout for one Redis or a Sentinel-watched master: the keys of earlier versions, unchanged. */
export function singleLayout(prefix: string): KeyLayout {
  const stream = `${prefix}history`;
  return {
    bucketOf: () => 0,
    entry: (entryKey) => prefix + entryKey,
    subjectCopy: (entryKey) => prefix + entryKey,
    buckets: 1,
    parseEntry: (redisKey) =>
      redisKey.startsWith(prefix) && isEntryKey(redisKey.slice(prefix.length))
        ? { key: redisKey.slice(prefix.length), bucket: 0 }
        : undefined,
    streamIds: "*",
    streams: [stream],
    indexes: [`${prefix}index`],
    markers: [`${prefix}index-ready`],
    channel: `${prefix}changes`,
    probes: [`${prefix}ready-probe`],
    cursorOf: (id) => id,
    parseCursor(cursor) {
      const match = STREAM_ID.exec(cursor);
      if (match === null) throw new InvalidCursor("page_token is not one this server handed out");
      return { ms: BigInt(match[1]!), seq: BigInt(match[2]!), bucket: 0 };
    },
  };
}

/** The Cluster layout: {@link CLUSTER_BUCKETS} hash-tagged buckets. */
export function clusterLayout(prefix: string): KeyLayout {
  const tag = (bucket: number) => `${prefix}{${bucket}}`;
  const buckets = Array.from({ length: CLUSTER_BUCKETS }, (_, bucket) => bucket);
  const tags = buckets.map(tag); // built once: a check names three keys
  const copyTags = buckets.map((bucket) => `${tag(bucket)}~`);
  return {
    bucketOf,
    entry: (entryKey, bucket) => tags[bucket] + entryKey,
    subjectCopy: (entryKey, bucket) => copyTags[bucket] + entryKey,
    buckets: CLUSTER_BUCKETS,
    parseEntry(redisKey) {
      const match = /^\{([0-9]{1,2})\}/.exec(redisKey.slice(prefix.length));
      if (!redisKey.startsWith(prefix) || match === null || Number(match[1]) >= CLUSTER_BUCKETS) return undefined;
      const key = redisKey.slice(prefix.length + match[0].length);
      return isEntryKey(key) ? { key, bucket: Number(match[1]) } : undefined;
    },
    streamIds: "clock",
    streams: buckets.map((bucket) => `${tag(bucket)}history`),
    indexes: buckets.map((bucket) => `${tag(bucket)}index`),
    markers: buckets.map((bucket) => `${tag(bucket)}index-ready`),
    channel: `${prefix}changes`,
    probes: buckets.map((bucket) => `${tag(bucket)}ready-probe`),
    cursorOf: (id, bucket) => `${id}-${bucket}`,
    parseCursor(cursor) {
      const match = /^([0-9]{1,20})-([0-9]{1,20})-([0-9]{1,3})$/.exec(cursor);
      const bucket = match === null ? -1 : Number(match[3]);
      if (match === null || bucket >= CLUSTER_BUCKETS) throw new InvalidCursor("page_token is not one this server handed out");
      return { ms: BigInt(match[1]!), seq: BigInt(match[2]!), bucket };
    },
  };
}

/** The bucket of an entry key: FNV-1a over its UTF-16 code units, stable across versions and processes. */
export function bucketOf(entryKey: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < entryKey.length; i++) {
    hash ^= entryKey.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % CLUSTER_BUCKETS;
}

/** Parses a stream id (`ms-seq`). */
export function streamPosition(id: string, bucket: number): StreamPosition {
  const match = STREAM_ID.exec(id);
  if (match === null) throw new Error(`not a stream id: ${id}`);
  return { ms: BigInt(match[1]!), seq: BigInt(match[2]!), bucket };
}

/** Newest first: by stream id, then by bucket (higher first), so the merged order is total and stable. */
export function newerFirst(a: StreamPosition, b: StreamPosition): number {
  if (a.ms !== b.ms) return a.ms > b.ms ? -1 : 1;
  if (a.seq !== b.seq) return a.seq > b.seq ? -1 : 1;
  return b.bucket - a.bucket;
}

/**
 * The XREVRANGE upper bound for `bucket` that returns exactly the events
 * after `cursor` in {@link newerFirst} order: ids below the cursor's, and,
 * in buckets ordered after the cursor's, its id itself.
 */
export function upperBound(cursor: StreamPosition | undefined, bucket: number): string {
  if (cursor === undefined) return "+";
  const id = `${cursor.ms}-${cursor.seq}`;
  return bucket < cursor.bucket ? id : `(${id}`;
}

/** An entry key (a fingerprint, or a `j:`/`s:` JSON pair), not one of the store's own keys (history, index, probes). */
function isEntryKey(key: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(key) || key.startsWith('j:["') || key.startsWith('s:["');
}
