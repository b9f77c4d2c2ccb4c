import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CLUSTER_BUCKETS,
  bucketOf,
  clusterLayout,
  newerFirst,
  singleLayout,
  type StreamPosition,
  streamPosition,
  upperBound,
} from "../../src/store/redis-key-layout.js";
import { InvalidCursor } from "../../src/store/revocation-store.js";

describe("Redis key layouts", () => {
  it("keeps the single-Redis keys of earlier versions", () => {
    const layout = singleLayout("tbl:");
    expect(layout.bucketOf("t:abc")).toBe(0);
    expect(layout.entry("t:abc", 0)).toBe("tbl:t:abc");
    expect(layout.streams).toEqual(["tbl:history"]);
    expect(layout.parseEntry(`tbl:${"a".repeat(43)}`)).toEqual({ key: "a".repeat(43), bucket: 0 });
    expect(layout.parseEntry("tbl:history")).toBeUndefined();
    expect(layout.cursorOf("1700000000000-3", 0)).toBe("1700000000000-3");
    expect(() => layout.parseCursor("1700000000000-3-1")).toThrow(InvalidCursor);
  });

  it("on a Cluster, puts an entry and its stream under one hash tag, and spreads entries over every bucket", () => {
    const layout = clusterLayout("tbl:");
    const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    const used = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const key = `fp-${i}`;
      const bucket = layout.bucketOf(key);
      expect(tagOf(layout.entry(key, bucket))).toBe(tagOf(layout.streams[bucket]!));
      expect(tagOf(layout.entry(key, bucket))).toBe(tagOf(layout.indexes[bucket]!));
      used.add(bucketOf(key));
    }
    expect(used.size).toBe(CLUSTER_BUCKETS);
    expect(layout.streams).toHaveLength(CLUSTER_BUCKETS);
    expect(() => layout.parseCursor(`1-0-${CLUSTER_BUCKETS}`)).toThrow(InvalidCursor);
    expect(() => layout.parseCursor("1-0")).toThrow(InvalidCursor);
    // A token entry placed with its jti's entry shares its slot, whatever its own hash says.
    const jti = 'j:["https://issuer/","id-1"]';
    expect(tagOf(layout.entry("a".repeat(43), layout.bucketOf(jti)))).toBe(tagOf(layout.entry(jti, layout.bucketOf(jti))));
    expect(layout.parseEntry(layout.entry("a".repeat(43), 7))).toEqual({ key: "a".repeat(43), bucket: 7 });
    // A subject's copy in a bucket shares that bucket's slot, and is no entry to the index, the backfill or the feed.
    const subject = 's:["https://issuer/","alice"]';
    for (let bucket = 0; bucket < CLUSTER_BUCKETS; bucket++) {
      expect(tagOf(layout.subjectCopy(subject, bucket))).toBe(tagOf(layout.entry(jti, bucket)));
      expect(layout.parseEntry(layout.subjectCopy(subject, bucket))).toBeUndefined();
    }
  });

  it("pages a merged history exactly: every event once, newest first, whatever the page size", () => {
    // Events in 4 buckets with colliding ids; paging with upperBound must list each once, in newerFirst order.
    const event = fc.record({
      ms: fc.integer({ min: 1, max: 20 }),
      seq: fc.integer({ min: 0, max: 2 }),
      bucket: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(event, { selector: (e) => `${e.ms}-${e.seq}-${e.bucket}`, maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        (events, limit) => {
          const positions = events.map((e) => streamPosition(`${e.ms}-${e.seq}`, e.bucket));
          const expected = [...positions].sort(newerFirst);
          const listed: StreamPosition[] = [];
          let cursor: StreamPosition | undefined;
          for (;;) {
            // What XREVRANGE <upper> - COUNT limit+1 returns from each bucket's stream.
            const fetched = [0, 1, 2, 3].flatMap((bucket) =>
              positions
                .filter((p) => p.bucket === bucket && withinBound(p, upperBound(cursor, bucket)))
                .sort(newerFirst)
                .slice(0, limit + 1),
            );
            const page = fetched.sort(newerFirst).slice(0, limit);
            listed.push(...page);
            if (fetched.length <= limit) break;
            cursor = page.at(-1);
          }
          expect(listed).toEqual(expected);
        },
      ),
    );
  });
});

/** XREVRANGE's upper bound: "+" (all), "ms-seq" (at or below), "(ms-seq" (below). */
function withinBound(p: StreamPosition, bound: string): boolean {
  if (bound === "+") return true;
  const exclusive = bound.startsWith("(");
  const [ms, seq] = bound.replace("(", "").split("-").map(BigInt) as [bigint, bigint];
  if (p.ms !== ms) return p.ms < ms;
  return exclusive ? p.seq < seq : p.seq <= seq;
}
