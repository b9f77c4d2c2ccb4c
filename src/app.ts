import type { AddressInfo } from "node:net";
import type { Config } from "./config.js";
import { openKeySource } from "./jwt/open-key-source.js";
import { createVerifier } from "./jwt/verifier.js";
import type { Logger } from "./logger.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { createServer } from "./server/create-server.js";
import { createTokenService } from "./service/token-service.js";
import { openStore } from "./store/open-store.js";
import type { RevocationStore } from "./store/revocation-store.js";

/** A running service: what main.ts starts, and what tests start in-process. */
export interface App {
  address: AddressInfo;
  store: RevocationStore;
  metrics: Metrics;
  /** Stops accepting, lets in-flight requests finish (up to `deadlineMs`), closes the store. */
  close(deadlineMs?: number): Promise<void>;
}

/** Composes keys, store, verifier, service and server from a config, and listens. */
export async function startApp(config: Config, logger: Logger): Promise<App> {
  const keys = await openKeySource(config.jwt.key);
  const store = await openStore(config.store).catch((err: unknown) => {
    keys.close();
    throw err;
  });
  const metrics = createMetrics();
  try {
    const handlers = createTokenService({
      verifier: createVerifier(config.jwt, keys),
      store,
      adminKey: config.adminKey,
      maxTokenBytes: config.jwt.maxTokenBytes,
      failOpen: config.failOpen,
      observer: {
        storeError(operation, fingerprint, error) {
          metrics.storeErrors.inc({ operation });
          logger.warn({ operation, fingerprint, error: error.message }, "revocation store call failed");
        },
        failedOpen(fingerprint) {
          metrics.failOpen.inc();
          logger.error({ fingerprint }, "FAIL_OPEN: answered valid WITHOUT a revocation check; the store is down");
        },
      },
    });
    const server = createServer({
      handlers,
      maxHeaderBytes: config.maxHeaderBytes,
      readMaxBytes: config.maxBodyBytes,
      metrics: metrics.registry,
      onInternalError: (err) => logger.error({ error: String(err) }, "internal error"),
    });
    const address = await server.listen(config.port, config.host);
    return {
      address,
      store,
      metrics,
      async close(deadlineMs) {
        await server.close(deadlineMs);
        await store.close();
        keys.close();
      },
    };
  } catch (err) {
    await store.close();
    keys.close();
    throw err;
  }
}
