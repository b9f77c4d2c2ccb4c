import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import { loadConfig } from "../../src/config.js";
import { secretKeySource } from "../../src/jwt/key-source.js";
import { createVerifier } from "../../src/jwt/verifier.js";
import type { ServiceObserver } from "../../src/service/types.js";
import { createTokenService, type TokenServiceDeps } from "../../src/service/token-service.js";
import type { RevocationStore } from "../../src/store/revocation-store.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import { ADMIN_KEY } from "./service.js";

/** The TokenService rules in this process: no sockets, an SQLite file in a temp dir. */
export interface InProcessService {
  client: Client<typeof TokenService>;
  store: RevocationStore;
  close(): Promise<void>;
}

/**
 * Builds the rules as the app does (config from `env`, HMAC keys) and serves
 * them through connect-es's in-memory router transport. `wrapStore` may put a
 * faulty store in front of the real one; `observer` sees every call.
 */
export function inProcessService(
  env: Record<string, string | undefined> = {},
  options: { wrapStore?: (store: RevocationStore) => RevocationStore; observer?: ServiceObserver } = {},
): InProcessService {
  const dir = mkdtempSync(join(tmpdir(), "tb-unit-"));
  const config = loadConfig({ ADMIN_KEY, ...env, SQLITE_PATH: join(dir, "tokens.db") });
  if (config.store.kind !== "sqlite" || config.jwt.key.kind !== "secret")
    throw new Error("the in-process tier runs on SQLite and JWT_SECRET");
  const real = openSqliteStore({ path: config.store.path, timeoutMs: config.store.timeoutMs });
  const store = options.wrapStore?.(real) ?? real;
  const deps: TokenServiceDeps = {
    verifier: createVerifier(config.jwt, secretKeySource(config.jwt.key.secret)),
    store,
    adminKey: config.adminKey,
    maxTokenBytes: config.jwt.maxTokenBytes,
    issuer: config.jwt.issuer,
    maxLifetimeSeconds: config.jwt.maxLifetimeSeconds,
    clockToleranceSeconds: config.jwt.clockToleranceSeconds,
    failOpen: config.failOpen,
    ...(options.observer === undefined ? {} : { observer: options.observer }),
  };
  const handlers = createTokenService(deps);
  const transport = createRouterTransport(({ service }) => service(TokenService, handlers));
  return {
    client: createClient(TokenService, transport),
    store,
    async close() {
      await real.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
