import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MgetConnection, openMgetConnection } from "../src/store/mget-connection.js";
import { freePort, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { makeTestCert } from "./helpers/tls-cert.js";

const options = (port: number) => ({ host: "127.0.0.1", port, connectTimeoutMs: 2000, replyTimeoutMs: 1000 });

describe("the plain MGET connection a Cluster check reads on", () => {
  let redis: TestRedis;
  let connection: MgetConnection;
  beforeAll(async () => {
    redis = await startRedis();
    connection = await openMgetConnection(options(redis.port));
  });
  afterAll(async () => {
    connection.close();
    await redis.stop();
  });

  it("answers each MGET with its own values in order, null where a key is absent, many in one turn", async () => {
    await redis.command("SET", "a", "1");
    await redis.command("SET", 's:["zoë"]', "1700000000000");
    await redis.command("SET", "odd", "a\r\n$3\r\n*1\r\nb");
    const asked = Array.from({ length: 2000 }, (_, i) => (i % 2 === 0 ? ["a", `absent-${i}`, 's:["zoë"]'] : [`absent-${i}`]));
    const answers = await Promise.all(asked.map((keys) => connection.mget(keys)));
    expect(answers).toEqual(asked.map((_, i) => (i % 2 === 0 ? ["1", null, "1700000000000"] : [null])));
  });

  it("takes a value by its length, whatever bytes it holds", async () => {
    expect(await connection.mget(["odd", "a"])).toEqual(["a\r\n$3\r\n*1\r\nb", "1"]);
  });

  it("knows which server process it reads from (INFO server's run_id)", async () => {
    const info = String(await redis.command("INFO", "server"));
    expect(connection.serverRunId).toBe(/^run_id:(\w+)/m.exec(info)![1]);
  });

  it("parses a reply that arrives in many pieces", async () => {
    const big = "x".repeat(3_000_000); // far more than one read of the socket
    await redis.command("SET", "big", big);
    const [values, after] = await Promise.all([connection.mget(["big", "a"]), connection.mget(["a"])]);
    expect(values[0]).toHaveLength(big.length);
    expect([values[1], after]).toEqual(["1", ["1"]]);
  });

  it("rejects a read Redis answers with an error, and goes on with the next", async () => {
    await redis.command("ACL", "SETUSER", "no-mget", "on", ">pw", "~*", "+@all", "-mget");
    const refused = await openMgetConnection({ ...options(redis.port), username: "no-mget", password: "pw" });
    try {
      await expect(refused.mget(["a"])).rejects.toThrow(/^NOPERM/);
      await expect(refused.mget(["b"])).rejects.toThrow(/^NOPERM/);
      expect(refused.open).toBe(true);
    } finally {
      refused.close();
    }
  });

  it("logs in as ioredis does: a password alone, a user with a password, a user with none; a wrong one refuses to open", async () => {
    await redis.command("ACL", "SETUSER", "with-pw", "on", ">sesame", "~*", "+@all");
    await redis.command("ACL", "SETUSER", "without-pw", "on", "nopass", "~*", "+@all");
    const userOf = async (login: { username?: string; password?: string }) => {
      const own = await openMgetConnection({ ...options(redis.port), ...login, name: "login-test" });
      await own.mget(["a"]);
      const line = String(await redis.command("CLIENT", "LIST"))
        .split("\n")
        .find((l) => l.includes(" name=login-test "));
      own.close();
      return /\buser=(\S+)/.exec(line!)![1];
    };
    expect(await userOf({ username: "with-pw", password: "sesame" })).toBe("with-pw");
    expect(await userOf({ username: "without-pw" })).toBe("without-pw");
    await expect(openMgetConnection({ ...options(redis.port), username: "with-pw", password: "wrong" })).rejects.toThrow(/WRONGPASS/);
    const guarded = await startRedis();
    await guarded.command("CONFIG", "SET", "requirepass", "sesame");
    try {
      await expect(openMgetConnection(options(guarded.port))).rejects.toThrow(/NOAUTH/);
      const own = await openMgetConnection({ ...options(guarded.port), password: "sesame" });
      expect(await own.mget(["a"])).toEqual([null]);
      own.close();
    } finally {
      await guarded.stop();
    }
  });

  it("opens without its name when the user may not set one", async () => {
    await redis.command("ACL", "SETUSER", "no-setname", "on", ">pw", "~*", "+@all", "-client|setname");
    const own = await openMgetConnection({ ...options(redis.port), username: "no-setname", password: "pw", name: "unnamed" });
    expect(await own.mget(["a"])).toEqual(["1"]);
    own.close();
  });

  it("fails every read in flight and says so once when the server goes away, and never reconnects", async () => {
    const doomed = await startRedis();
    const own = await openMgetConnection(options(doomed.port));
    const closed = new Promise<void>((resolve) => own.onClosed(resolve));
    doomed.signal("SIGSTOP"); // the reads below are in flight when it dies
    const inFlight = Promise.allSettled([own.mget(["a"]), own.mget(["b"])]);
    await doomed.kill();
    for (const outcome of await inFlight) {
      expect(outcome.status).toBe("rejected");
      expect(String((outcome as PromiseRejectedResult).reason)).toMatch(/connection closed|ECONNRESET/);
    }
    await closed;
    expect(own.open).toBe(false);
    await doomed.restart();
    await expect(own.mget(["a"])).rejects.toThrow(/connection closed/);
    await doomed.stop();
  });

  it("closes itself when a read waits longer than replyTimeoutMs (a hung server)", async () => {
    const hung = await startRedis();
    const own = await openMgetConnection({ ...options(hung.port), replyTimeoutMs: 300 });
    hung.signal("SIGSTOP");
    try {
      const started = Date.now();
      await expect(own.mget(["a"])).rejects.toThrow(/no reply within 300 ms/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(own.open).toBe(false);
    } finally {
      hung.signal("SIGCONT");
      await hung.stop();
    }
  });

  it("refuses to open when nothing listens", async () => {
    await expect(openMgetConnection(options(await freePort()))).rejects.toThrow(/cannot connect to 127\.0\.0\.1/);
  });
});

describe("the plain MGET connection over TLS", () => {
  const cert = makeTestCert();
  let redis: TestRedis;
  let tlsPort: number;
  beforeAll(async () => {
    tlsPort = await freePort();
    // No client certificates (tls-auth-clients no): the service authenticates with a password, as with ioredis.
    redis = await startRedis([
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      cert.certFile,
      "--tls-key-file",
      cert.keyFile,
      "--tls-auth-clients",
      "no",
    ]);
    await redis.command("SET", "a", "1");
  });
  afterAll(async () => {
    await redis.stop();
    cert.remove();
  });

  /** Opens a TLS connection and reads `a` in a process of its own that trusts `ca` (NODE_EXTRA_CA_CERTS is read at start-up). */
  const readOverTls = async (host: string, ca: string | undefined) => {
    const module = fileURLToPath(new URL("../src/store/mget-connection.ts", import.meta.url));
    const script = `
      import { openMgetConnection } from ${JSON.stringify(module)};
      try {
        const c = await openMgetConnection({ host: ${JSON.stringify(host)}, port: ${tlsPort}, tls: {}, connectTimeoutMs: 5000, replyTimeoutMs: 5000 });
        console.log(JSON.stringify(await c.mget(["a", "absent"])));
        c.close();
      } catch (err) { console.log("refused: " + err.message); }`;
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      env: { ...process.env, ...(ca === undefined ? {} : { NODE_EXTRA_CA_CERTS: ca }) },
    });
    return stdout.trim();
  };

  it("reads from a server whose certificate it trusts, by address and by name", async () => {
    expect(await readOverTls("127.0.0.1", cert.certFile)).toBe('["1",null]');
    expect(await readOverTls("localhost", cert.certFile)).toBe('["1",null]');
  });

  it("verifies the certificate: refuses a server it does not trust", async () => {
    expect(await readOverTls("127.0.0.1", undefined)).toMatch(/^refused: cannot connect to 127\.0\.0\.1/);
  });
});
