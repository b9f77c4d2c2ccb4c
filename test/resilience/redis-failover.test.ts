import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fingerprint } from "../../src/jwt/fingerprint.js";
import { eventually } from "../helpers/eventually.js";
import { startCluster, startSentinelSet } from "../helpers/redis-topologies.js";
import type { TestRedis } from "../helpers/redis-server.js";
import { mint } from "../helpers/tokens.js";
import { ADMIN_KEY, startTarget, type Target } from "./target.js";

// Issue 13: a master SIGKILLed under load, on Sentinel and on Cluster, with two service instances.

const STORE_TIMEOUT_MS = 1000;
/**
 * A token of a subject of its own, as real traffic has: on a Cluster a token's entry goes with its
 * subject's, so tokens of one subject would all land on one master.
 */
const mintForSomeone = () => mint({ sub: `user-${crypto.randomUUID()}` });
/** A call that takes longer than this has hung: every store call ends at STORE_TIMEOUT_MS. */
const HANG_MS = 2 * STORE_TIMEOUT_MS + 500;

/** A topology under test: the service's environment, and the master to kill. */
interface Topology {
  env: Record<string, string>;
  /** The master that holds (some of) the entries now. */
  victim(): Promise<TestRedis>;
  /** Every key's name and value (streams: their entries) on every live server, as text. */
  dump(): Promise<string>;
  stop(): Promise<void>;
}

const topologies: Array<[string, () => Promise<Topology>]> = [
  [
    "Sentinel (master, replica, 3 sentinels)",
    async () => {
      const set = await startSentinelSet();
      return { env: set.env, victim: () => set.currentMaster(), dump: () => dumpAll(set.servers), stop: () => set.stop() };
    },
  ],
  [
    "Cluster (3 masters, 3 replicas)",
    async () => {
      const cluster = await startCluster();
      // The master of hash tag {0}: bucket 0's entries and stream, and whatever else shares that master.
      return { env: cluster.env, victim: () => cluster.masterOf("{0}"), dump: () => dumpAll(cluster.nodes), stop: () => cluster.stop() };
    },
  ],
];

/** Every key and value on each live master (replicas hold copies): strings, stream entries, and the entry indexes. */
async function dumpAll(servers: TestRedis[]): Promise<string> {
  const out: string[] = [];
  for (const server of servers.filter((s) => s.alive())) {
    if (((await server.command("ROLE")) as string[])[0] !== "master") continue;
    for (const key of (await server.command("KEYS", "*")) as string[]) {
      const type = await server.command("TYPE", key);
      const value =
        type === "stream"
          ? await server.command("XRANGE", key, "-", "+")
          : type === "zset"
            ? await server.command("ZRANGE", key, "0", "-1", "WITHSCORES")
            : await server.command("GET", key);
      out.push(key, JSON.stringify(value));
    }
  }
  return out.join("\n");
}

interface Answer {
  status: number;
  ms: number;
  at: number;
}

async function call(target: Target, method: "GET" | "POST", path: string, token: string): Promise<Answer> {
  const started = performance.now();
  try {
    const res = await fetch(`${target.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(HANG_MS * 2),
    });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - started, at: Date.now() };
  } catch {
    return { status: -1, ms: performance.now() - started, at: Date.now() }; // no answer at all
  }
}

describe.each(topologies)("failover on %s", (_name, startTopology) => {
  let topology: Topology;
  let instances: [Target, Target];
  beforeAll(async () => {
    topology = await startTopology();
    // The default idle timeout: with the suite's 1.5 s, keep-alive clients race the server's closes.
    const env = {
      ...topology.env,
      REDIS_WAIT_REPLICAS: "1",
      STORE_TIMEOUT_MS: String(STORE_TIMEOUT_MS),
      REDIS_WAIT_TIMEOUT_MS: "500",
      HTTP_IDLE_TIMEOUT_MS: "65000",
    };
    instances = [await startTarget(env), await startTarget(env)];
  }, 90_000);
  afterAll(async () => {
    await Promise.all((instances ?? []).map((i) => i?.close()));
    await topology?.stop();
  });

  it("sees a revocation made through one instance on the other at once, lists it in History, and stores no raw token", async () => {
    const token = mintForSomeone();
    expect((await call(instances[0], "POST", "/blacklist", token)).status).toBe(200);
    expect((await call(instances[1], "GET", "/info", token)).status).toBe(401);
    const history = await fetch(`${instances[1].baseUrl}/history?page_size=5`, { headers: { "x-admin-key": ADMIN_KEY } });
    const { events } = (await history.json()) as { events: Array<{ action: string; fingerprint: string }> };
    expect(events[0]).toMatchObject({ action: "AUDIT_ACTION_REVOKE", fingerprint: fingerprint(token) });
    // Every key and every stream entry on every master: the token's signature appears nowhere.
    const signature = token.split(".")[2]!;
    const dump = await topology.dump();
    expect(dump).toContain(fingerprint(token)); // the entry and its event are there, under the fingerprint
    expect(dump).not.toContain(signature);
  });

  it("under load, SIGKILL of the master: no revoked token answered valid, no acknowledged revocation lost, no call hangs, recovery by itself", async () => {
    const revoked = new Set<string>();
    const valid = Array.from({ length: 50 }, () => mintForSomeone());
    for (let i = 0; i < 50; i++) {
      const token = mintForSomeone();
      expect((await call(instances[i % 2]!, "POST", "/blacklist", token)).status).toBe(200);
      revoked.add(token);
    }
    const acknowledged = new Set<string>(); // revoked by the load, acknowledged with 200
    const violations: string[] = [];
    const infos: Answer[] = [];
    const writes: Answer[] = [];
    let stop = false;
    const pick = <T>(items: readonly T[]) => items[Math.floor(Math.random() * items.length)]!;

    const worker = async (n: number) => {
      for (let i = 0; !stop; i++) {
        const target = instances[(n + i) % 2]!;
        if (i % 3 === 2) {
          const token = mintForSomeone();
          const answer = await call(target, "POST", "/blacklist", token);
          writes.push(answer);
          if (answer.status === 200) {
            acknowledged.add(token);
            revoked.add(token);
          }
          continue;
        }
        const token = i % 2 === 0 ? pick([...revoked]) : pick(valid);
        const answer = await call(target, "GET", "/info", token);
        infos.push(answer);
        if (answer.status === 200 && revoked.has(token)) violations.push(`a revoked token answered valid at ${answer.at}`);
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, n) => worker(n)));

    await new Promise((resolve) => setTimeout(resolve, 1500));
    const victim = await topology.victim();
    const killedAt = Date.now();
    await victim.kill();
    // Reads come back once a replica is promoted; writes need a replica again for WAIT 1: the killed server
    // is restarted once the others answer without it (as a supervisor would), and rejoins as a replica.
    // Reads are back when tokens of 32 subjects (on every master, almost surely: most of the 16 buckets) answer again.
    const probes = valid.slice(0, 32);
    const readsBack = await eventually(
      async () => (await Promise.all(probes.map((token) => call(instances[0], "GET", "/info", token)))).every((a) => a.status === 200),
      30_000,
      100,
    );
    const readsBackAt = Date.now();
    await victim.restart();
    const writesBack = await eventually(
      async () => (await call(instances[1], "POST", "/blacklist", mintForSomeone())).status === 200,
      30_000,
      100,
    );
    const writesBackAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    stop = true;
    await load;

    const unavailable = infos.filter((a) => a.status === 503 && a.at >= killedAt);
    const window = unavailable.length === 0 ? 0 : Math.max(...unavailable.map((a) => a.at)) - Math.min(...unavailable.map((a) => a.at));
    const slowest = Math.max(...infos.map((a) => a.ms), ...writes.map((a) => a.ms));
    // Every revocation acknowledged, before or during the failover, is there after it, on both instances:
    // 401. A 503 (a slot whose master is still being replaced) is asked again until the deadline; a 200 is a violation.
    const lost: string[] = [];
    const stillRevoked = async (token: string) => {
      const answers = await Promise.all(instances.map((instance) => call(instance, "GET", "/info", token)));
      for (const answer of answers)
        if (answer.status === 200) violations.push(`an acknowledged revocation answered valid after the failover`);
      return answers.every((a) => a.status === 401) || answers.some((a) => a.status === 200);
    };
    for (const token of acknowledged) {
      if (!(await eventually(() => stillRevoked(token), 10_000, 100))) lost.push(token);
    }
    console.log(
      `${_name}: ${infos.length} Info and ${writes.length} Blacklist calls; ${acknowledged.size} revocations acknowledged during the load, ` +
        `${lost.length} lost; Info UNAVAILABLE for ${window} ms after the kill (${unavailable.length} answers); reads back ${readsBackAt - killedAt} ms ` +
        `and writes (to some master) ${writesBackAt - killedAt} ms after the kill (the killed server restarted at ${readsBackAt - killedAt} ms); slowest call ${slowest.toFixed(0)} ms`,
    );
    expect(violations).toEqual([]);
    expect(readsBack && writesBack).toBe(true);
    expect(acknowledged.size).toBeGreaterThan(20);
    expect(lost).toEqual([]);
    expect([...infos, ...writes].filter((a) => a.status === -1)).toEqual([]);
    expect(slowest).toBeLessThan(HANG_MS);
    for (const answer of [...infos, ...writes]) expect([200, 401, 503]).toContain(answer.status);
  }, 90_000);
});
