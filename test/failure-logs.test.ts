import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCallObserver } from "../src/call-observer.js";
import { loadConfig } from "../src/config.js";
import { secretKeySource } from "../src/jwt/key-source.js";
import { createVerifier } from "../src/jwt/verifier.js";
import { createLogger } from "../src/logger.js";
import { createMetrics } from "../src/metrics.js";
import { createServer } from "../src/server/create-server.js";
import type { SinglePortServer } from "../src/server/single-port.js";
import { INTERNAL_MESSAGE } from "../src/service/observed.js";
import { createTokenService } from "../src/service/token-service.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { bearer, connectJsonClient, grpcJsClient, grpcWebClient, restHttp1Client, type TokenClient } from "./helpers/clients.js";
import { runMainToExit } from "./helpers/main-process.js";
import { mint } from "./helpers/tokens.js";

/**
 * An operator debugging a failure needs its type, message and stack, once,
 * whichever protocol the call came in on; the caller needs a stable message
 * and nothing of the internals.
 */
describe("an internal error, on every protocol", () => {
  const dir = mkdtempSync(join(tmpdir(), "tb-internal-"));
  const lines: string[] = [];
  let server: SinglePortServer;
  let port = 0;
  const store = openSqliteStore({ path: join(dir, "tokens.db"), timeoutMs: 500 });

  beforeAll(async () => {
    const config = loadConfig({ HOST: "127.0.0.1" });
    const logger = createLogger("info", { write: (line: string) => void lines.push(line) });
    const metrics = createMetrics();
    const broken = { ...store, check: () => Promise.reject(new RangeError("an unforeseen bug")) };
    server = createServer({
      handlers: createTokenService({
        verifier: createVerifier(config.jwt, secretKeySource("discogs")),
        store: broken,
        adminKey: undefined,
        maxTokenBytes: config.jwt.maxTokenBytes,
        issuer: config.jwt.issuer,
        maxLifetimeSeconds: undefined,
        clockToleranceSeconds: 5,
        observer: createCallObserver(metrics, logger),
      }),
      ready: async () => true,
      metrics,
      onInternalError: (err) => logger.error({ err }, "internal error"),
    });
    port = (await server.listen(0, "127.0.0.1")).port;
  });
  afterAll(async () => {
    await server.close(1000, 10);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const clients = (): TokenClient[] => {
    const baseUrl = `http://127.0.0.1:${port}`;
    return [restHttp1Client(baseUrl), connectJsonClient(baseUrl), grpcWebClient(baseUrl), grpcJsClient(port)];
  };

  it("is logged once at error level with type, message and stack, and answered INTERNAL with a stable message", async () => {
    for (const client of clients()) {
      lines.length = 0;
      const outcome = await client.info(bearer(mint()));
      client.close();
      expect(outcome, client.name).toMatchObject({ ok: false, code: "internal", message: INTERNAL_MESSAGE });
      const errors = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.level === 50);
      expect(errors, client.name).toHaveLength(1);
      expect(errors[0]).toMatchObject({ msg: "internal error", rpc: "Info", err: { type: "RangeError", message: "an unforeseen bug" } });
      expect((errors[0]!.err as { stack: string }).stack).toMatch(/RangeError: an unforeseen bug\n\s+at /);
    }
  });
});

describe("credentials in URLs", () => {
  const dir = mkdtempSync(join(tmpdir(), "tb-secret-url-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ["an unreachable REDIS_URL with a password", { REDIS_URL: "redis://app:s3cret-pw@127.0.0.1:1" }],
    ["a malformed REDIS_URL with a password", { REDIS_URL: "redis//app:s3cret-pw@127.0.0.1:1" }],
    ["an unreachable JWT_JWKS_URL with a password", { JWT_JWKS_URL: "http://app:s3cret-pw@127.0.0.1:1/jwks" }],
    ["a JWT_JWKS_URL that is not http(s), with a password", { JWT_JWKS_URL: "ftp://app:s3cret-pw@host/jwks" }],
  ])("never show the password in the log: %s", async (_name, env) => {
    const result = await runMainToExit({ SQLITE_PATH: join(dir, "tokens.db"), ...env });
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/REDIS_URL|JWT_JWKS_URL/);
    expect(result.output).not.toContain("s3cret-pw");
  });
});
