import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { eventually } from "./eventually.js";
import { freePort, rawCommand, startRedis, type TestRedis } from "./redis-server.js";

/** `INFO <section>` as a map. */
async function info(port: number, section: string): Promise<Map<string, string>> {
  const text = String(await rawCommand(port, ["INFO", section]));
  return new Map(text.split("\r\n").flatMap((line) => (line.includes(":") ? [line.split(":", 2) as [string, string]] : [])));
}

/** A flat RESP array of field, value, field, value... as a map. */
function pairs(reply: unknown): Map<string, string> {
  const items = reply as string[];
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < items.length; i += 2) map.set(items[i]!, items[i + 1]!);
  return map;
}

/** Resolves once the master on `port` has `replicas` replicas online. */
async function replicasOnline(port: number, replicas: number): Promise<void> {
  const ok = await eventually(async () => {
    const replication = await info(port, "replication").catch(() => new Map<string, string>());
    const online = [...replication.entries()].filter(([key, value]) => /^slave\d+$/.test(key) && value.includes("state=online"));
    return online.length >= replicas;
  }, 20_000);
  if (!ok) throw new Error(`the master on ${port} has no ${replicas} replicas online`);
}

/** A `redis-server --sentinel` process. */
export interface TestSentinel {
  port: number;
  kill(): Promise<void>;
}

async function startSentinel(masterName: string, masterPort: number): Promise<TestSentinel> {
  const dir = mkdtempSync(join(tmpdir(), "tb-sentinel-"));
  const port = await freePort();
  const conf = join(dir, "sentinel.conf"); // Sentinel rewrites its file: it must be writable
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${masterName} 1000`,
      `sentinel failover-timeout ${masterName} 5000`,
      `sentinel parallel-syncs ${masterName} 1`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  if (!(await eventually(async () => (await rawCommand(port, ["PING"]).catch(() => "")) === "PONG", 10_000))) {
    child.kill("SIGKILL");
    throw new Error(`sentinel on ${port} did not start`);
  }
  return {
    port,
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await gone;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One master, one replica and three sentinels watching them (quorum 2, down after 1 s). */
export interface TestSentinelSet {
  masterName: string;
  /** The processes the set started as master and replica (roles change with failovers). */
  servers: TestRedis[];
  sentinels: TestSentinel[];
  /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER for the service. */
  env: Record<string, string>;
  /** The server the sentinels name as master now. */
  currentMaster(): Promise<TestRedis>;
  stop(): Promise<void>;
}

export async function startSentinelSet(masterName = "mymaster"): Promise<TestSentinelSet> {
  const master = await startRedis();
  const replica = await startRedis(["--replicaof", "127.0.0.1", String(master.port)]);
  await replicasOnline(master.port, 1);
  const sentinels = await Promise.all([0, 1, 2].map(() => startSentinel(masterName, master.port)));
  // Each sentinel must know the replica and the other two before a failover can happen.
  const known = await eventually(async () => {
    const views = await Promise.all(
      sentinels.map((s) => rawCommand(s.port, ["SENTINEL", "MASTER", masterName]).then(pairs, () => new Map())),
    );
    return views.every((view) => view.get("num-slaves") === "1" && view.get("num-other-sentinels") === "2");
  }, 20_000);
  if (!known) throw new Error("the sentinels did not discover each other and the replica");
  const servers = [master, replica];
  return {
    masterName,
    servers,
    sentinels,
    env: { REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(","), REDIS_SENTINEL_MASTER: masterName },
    async currentMaster() {
      for (const sentinel of sentinels) {
        const address = (await rawCommand(sentinel.port, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName]).catch(() => null)) as
          | string[]
          | null;
        const server = servers.find((s) => s.port === Number(address?.[1]));
        if (server !== undefined) return server;
      }
      throw new Error("no sentinel names a master");
    },
    async stop() {
      await Promise.all(sentinels.map((s) => s.kill()));
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

/** Six cluster-enabled servers made into 3 masters with one replica each (node timeout 1 s). */
export interface TestCluster {
  nodes: TestRedis[];
  /** REDIS_CLUSTER_NODES for the service. */
  env: Record<string, string>;
  /** The node serving `key`'s slot as master now. */
  masterOf(key: string): Promise<TestRedis>;
  /** Resolves once every slot is served by a live master and the cluster says ok. */
  healthy(): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<TestCluster> {
  const nodes = await Promise.all(
    Array.from({ length: 6 }, async () =>
      startRedis([
        "--cluster-enabled",
        "yes",
        // The bus port, chosen here: the default (port + 10000) can land in the ephemeral range or past 65535.
        "--cluster-port",
        String(await freePort()),
        "--cluster-node-timeout",
        "1000",
        "--cluster-config-file",
        "nodes.conf",
      ]),
    ),
  );
  await promisify(execFile)("redis-cli", [
    "--cluster",
    "create",
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    "--cluster-replicas",
    "1",
    "--cluster-yes",
  ]);
  const alive = () => nodes.filter((n) => n.alive());
  const cluster: TestCluster = {
    nodes,
    env: { REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(",") },
    async masterOf(key) {
      const probe = alive()[0]!;
      const slot = Number(await probe.command("CLUSTER", "KEYSLOT", key));
      const ranges = (await probe.command("CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>;
      const range = ranges.find(([from, to]) => from <= slot && slot <= to);
      const node = nodes.find((n) => n.port === Number(range?.[2][1]));
      if (node === undefined) throw new Error(`no master serves slot ${slot}`);
      return node;
    },
    async healthy() {
      return eventually(async () => {
        const states = await Promise.all(alive().map((n) => n.command("CLUSTER", "INFO").then(String, () => "")));
        return states.every((state) => state.includes("cluster_state:ok"));
      }, 20_000);
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  if (!(await cluster.healthy())) throw new Error("the cluster did not reach cluster_state:ok");
  const ranges = (await nodes[0]!.command("CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>;
  await Promise.all([...new Set(ranges.map((r) => Number(r[2][1])))].map((port) => replicasOnline(port, 1)));
  return cluster;
}
