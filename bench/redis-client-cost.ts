/**
 * What one check's Redis reads cost the client, by topology and by how they
 * are sent: the CPU (user + system, this process) per check, with 32 checks
 * in flight, as Info issues them under load. It separates the client's own
 * cost from everything else a request pays, for the Redis rows of `npm run
 * bench` (see BENCHMARKS.md): ioredis (as the service read before), ioredis's
 * Cluster client, and the plain connection the service reads on now
 * (src/store/mget-connection.ts).
 * Reads only: each shape reads the keys a check would (token, jti,
 * subject), 120 tokens over 16 hash tags.
 *
 *   npm run bench:redis-clients [-- --checks 60000 --rounds 3]
 */
import { parseArgs } from "node:util";
import { Cluster, Redis } from "ioredis";
import { type MgetConnection, openMgetConnection } from "../src/store/mget-connection.js";
import { startRedis } from "../test/helpers/redis-server.js";
import { startCluster } from "../test/helpers/redis-topologies.js";

const { values } = parseArgs({ options: { checks: { type: "string", default: "60000" }, rounds: { type: "string", default: "3" } } });
const CHECKS = Number(values.checks);
const ROUNDS = Number(values.rounds);
const IN_FLIGHT = 32;
const BUCKETS = 16;

/** The keys of check `i`: its token's, jti's and subject's, each in the bucket the placement gives it. */
const keysOf = (i: number, tag: (bucket: number) => string, sameBucket: boolean) => {
  const n = i % 120;
  const bucket = n % BUCKETS;
  const jtiBucket = sameBucket ? bucket : (n * 7) % BUCKETS;
  return {
    token: `${tag(bucket)}${String(n).padStart(43, "t")}`,
    subject: `${tag(bucket)}s:["user-${n}"]`,
    jti: `${tag(jtiBucket)}j:["${n}"]`,
    bucket,
    jtiBucket,
  };
};

/** Median CPU microseconds per check over the rounds. */
async function cpuPerCheck(check: (i: number) => Promise<unknown>): Promise<number> {
  const rounds: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    let next = 0;
    const before = process.cpuUsage();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < CHECKS) await check(next++);
      }),
    );
    const used = process.cpuUsage(before);
    rounds.push((used.user + used.system) / CHECKS);
  }
  return rounds.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)]!;
}

const single = await startRedis();
const cluster = await startCluster();
const plain = new Redis({ port: single.port, enableAutoPipelining: true });
const clustered = new Cluster([{ host: "127.0.0.1", port: cluster.nodes[0]!.port }], { enableAutoPipelining: true, scaleReads: "master" });
for (const client of [plain, clustered]) client.on("error", () => {}); // servers stop at the end: no reconnect noise
await clustered.set("warm-up", "1");
// One connection per master, each bucket mapped to the master serving its slot now.
const perMaster = new Map<number, Redis>();
const byBucket: Redis[] = [];
for (let bucket = 0; bucket < BUCKETS; bucket++) {
  const { port } = await cluster.masterOf(`tbl:{${bucket}}`);
  if (!perMaster.has(port))
    perMaster.set(
      port,
      new Redis({ port, enableAutoPipelining: true }).on("error", () => {}),
    );
  byBucket.push(perMaster.get(port)!);
}
const plainSingle = await openMgetConnection({ host: "127.0.0.1", port: single.port, connectTimeoutMs: 2000, replyTimeoutMs: 5000 });
const plainPerMaster = new Map<number, MgetConnection>();
const plainByBucket: MgetConnection[] = [];
for (let bucket = 0; bucket < BUCKETS; bucket++) {
  const { port } = await cluster.masterOf(`tbl:{${bucket}}`);
  if (!plainPerMaster.has(port))
    plainPerMaster.set(port, await openMgetConnection({ host: "127.0.0.1", port, connectTimeoutMs: 2000, replyTimeoutMs: 5000 }));
  plainByBucket.push(plainPerMaster.get(port)!);
}

const plainTag = () => "tbl:";
const clusterTag = (bucket: number) => `tbl:{${bucket}}`;
const rows: Array<[string, (i: number) => Promise<unknown>]> = [
  [
    "one Redis, ioredis: MGET of 3 keys (Info before plain connections)",
    (i) => {
      const k = keysOf(i, plainTag, true);
      return plain.mget(k.token, k.jti, k.subject);
    },
  ],
  [
    "one Redis, a plain connection: MGET of 3 keys (Info on one Redis)",
    (i) => {
      const k = keysOf(i, plainTag, true);
      return plainSingle.mget([k.token, k.jti, k.subject]);
    },
  ],
  [
    "Cluster client: MGET token+subject, GET jti (Info before one-slot checks)",
    (i) => {
      const k = keysOf(i, clusterTag, false);
      return Promise.all([clustered.mget(k.token, k.subject), clustered.get(k.jti)]);
    },
  ],
  [
    "Cluster client: MGET of 3 keys in one slot",
    (i) => {
      const k = keysOf(i, clusterTag, true);
      return clustered.mget(k.token, k.jti, k.subject);
    },
  ],
  [
    "an ioredis connection per master: MGET token+subject, GET jti",
    (i) => {
      const k = keysOf(i, clusterTag, false);
      return Promise.all([byBucket[k.bucket]!.mget(k.token, k.subject), byBucket[k.jtiBucket]!.get(k.jti)]);
    },
  ],
  [
    "an ioredis connection per master: MGET of 3 keys in one slot",
    (i) => {
      const k = keysOf(i, clusterTag, true);
      return byBucket[k.bucket]!.mget(k.token, k.jti, k.subject);
    },
  ],
  [
    "a plain connection per master: MGET of 3 keys in one slot (Info on a Cluster)",
    (i) => {
      const k = keysOf(i, clusterTag, true);
      return plainByBucket[k.bucket]!.mget([k.token, k.jti, k.subject]);
    },
  ],
];
const results: Array<[string, number]> = [];
for (const [, check] of rows) await cpuPerCheck(check); // warm-up
for (const [name, check] of rows) results.push([name, await cpuPerCheck(check)]);
const base = results[0]![1];
console.log(`client CPU per check (${IN_FLIGHT} in flight, ${CHECKS} checks, median of ${ROUNDS})`);
for (const [name, us] of results) console.log(`${us.toFixed(1).padStart(6)} us  +${(us - base).toFixed(1).padStart(5)}  ${name}`);

plain.disconnect();
clustered.disconnect();
for (const connection of perMaster.values()) connection.disconnect();
for (const connection of plainPerMaster.values()) connection.close();
await Promise.all([single.stop(), cluster.stop()]);
