import cluster from "node:cluster";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { ConfigError, type Config } from "./config.js";
import { openKeySource } from "./jwt/open-key-source.js";
import { createVerifier } from "./jwt/verifier.js";
import type { Logger } from "./logger.js";
import { createCallObserver, labelled } from "./call-observer.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { workerMetrics } from "./cluster-metrics.js";
import { createServer } from "./server/create-server.js";
import { mirroredStore } from "./feed/mirrored-store.js";
import { StoreFollower } from "./feed/store-follower.js";
import { watchRevocationsHandler } from "./feed/watch-revocations.js";
import { createGateways } from "./gateway/gateways.js";
import { createTokenService, type TokenServiceDeps } from "./service/token-service.js";
import { openStore } from "./store/open-store.js";
import type { RevocationStore } from "./store/revocation-store.js";
import { timedStore } from "./store/timed-store.js";
import { startTracing } from "./tracing/start-tracing.js";
import { tracedStore, tracedVerifier } from "./tracing/traced-deps.js";

/** A running service: what main.ts starts, and what tests start in-process. */
export interface App {
  address: AddressInfo;
  store: RevocationStore;
  metrics: Metrics;
  /**
   * Drains for `drainMs` (requests already sent are still served), stops
   * accepting, lets in-flight requests finish (up to `deadlineMs`), closes the store.
   */
  close(deadlineMs?: number, drainMs?: number): Promise<void>;
}

/** How long a readiness probe waits for the store. */
const READY_TIMEOUT_MS = 1000;

/** Composes keys, store, verifier, service and server from a config, and listens. */
export async function startApp(config: Config, logger: Logger): Promise<App> {
  const tls = config.tls === undefined ? undefined : readTls(config.tls);
  // Undefined unless OTEL_* configure it: then nothing below is traced, and the SDK is not even loaded.
  const tracing = await startTracing(config.tracing, logger);
  // A start that fails from here on shuts the tracer down as a stop does (what it buffered is exported).
  const stopTracing = async (err: unknown): Promise<never> => {
    await tracing?.shutdown(1000);
    throw err;
  };
  const keys = await openKeySource(config.jwt.key).catch(stopTracing);
  const rawStore = await openStore(config.store, (message) => logger.warn(message)).catch((err: unknown) => {
    keys.close();
    return stopTracing(err);
  });
  const metrics = createMetrics();
  const storeTimers = labelled((key: string) => {
    const [operation, outcome] = key.split(" ") as [string, string];
    return metrics.storeSeconds.labels(operation, outcome);
  });
  const follower = new StoreFollower({
    log: rawStore.log,
    onError: everyFewSeconds((err) => logger.warn({ err }, "revocation feed: reading the store failed; retrying")),
  });
  const store = mirroredStore(
    timedStore(tracing === undefined ? rawStore : tracedStore(rawStore, config.store.kind, tracing), (operation, seconds, ok) =>
      storeTimers(ok ? `${operation} ok` : `${operation} error`).observe(seconds),
    ),
    follower,
    { answerChecks: config.feed.cache === "mirror", maxStalenessMs: config.feed.maxStalenessMs },
  );
  // Across workers (each has its own mirror): the most stale mirror, the largest copy of the one set, and every worker's streams.
  metrics.sampled(
    "token_blacklist_feed_lag_seconds",
    "How far the revocation mirror may be behind the store (unset until it has loaded).",
    "max",
    () => (follower.position === undefined ? undefined : follower.lagMs() / 1000),
  );
  metrics.sampled(
    "token_blacklist_feed_entries",
    "Entries in the revocation mirror (0 until a feed or REVOCATION_CACHE=mirror starts it).",
    "max",
    () => follower.set.size,
  );
  metrics.sampled("token_blacklist_feed_watchers", "WatchRevocations streams open now.", "sum", () => follower.watcherCount);
  if (config.feed.cache === "mirror") {
    // Until the first snapshot is in, Info asks the store.
    follower.start().catch(() => {});
  }
  try {
    const deps: TokenServiceDeps = {
      verifier: tracing === undefined ? createVerifier(config.jwt, keys) : tracedVerifier(createVerifier(config.jwt, keys), tracing),
      store,
      adminKey: config.adminKey,
      maxTokenBytes: config.jwt.maxTokenBytes,
      issuer: config.jwt.issuer,
      maxLifetimeSeconds: config.jwt.maxLifetimeSeconds,
      clockToleranceSeconds: config.jwt.clockToleranceSeconds,
      failOpen: config.failOpen,
      observer: createCallObserver(metrics, logger, tracing?.calls),
    };
    const handlers = createTokenService(deps);
    const onInternalError = (err: unknown) => logger.error({ err }, "internal error");
    let stopping = false; // from SIGTERM on, not ready: load balancers take the instance out while it drains
    const server = createServer({
      handlers,
      watchRevocations: watchRevocationsHandler({ follower, feedKey: config.feed.feedKey, adminKey: config.adminKey }),
      ready: () => (stopping ? Promise.resolve(false) : ready(store)),
      // WORKERS=N: /metrics serves the sum over every worker, from the primary; otherwise this process's own.
      metrics: config.workers > 1 && cluster.isWorker ? workerMetrics(metrics) : metrics,
      maxHeaderBytes: config.maxHeaderBytes,
      readMaxBytes: config.maxBodyBytes,
      corsOrigins: config.corsOrigins,
      tls,
      limits: config.connections,
      onConnectionClosed: labelledCounter(metrics),
      gateways: createGateways(deps, config.gateways, { readMaxBytes: config.maxBodyBytes, onInternalError }),
      onInternalError,
    });
    const address = await server.listen(config.port, config.host);
    return {
      address,
      store,
      metrics,
      async close(deadlineMs, drainMs) {
        stopping = true;
        const closing = Date.now();
        await server.close(deadlineMs, drainMs);
        // The last calls' spans are exported before the process goes, within what is left of the deadline.
        await Promise.all([store.close(), tracing?.shutdown(Math.max(1000, (deadlineMs ?? 10_000) - (Date.now() - closing)))]);
        keys.close();
      },
    };
  } catch (err) {
    await store.close();
    keys.close();
    throw err;
  }
}

/** Calls `report` at most once every five seconds (a store outage fails every read). */
function everyFewSeconds(report: (err: Error) => void): (err: Error) => void {
  let last = 0;
  return (err) => {
    if (Date.now() - last < 5000) return;
    last = Date.now();
    report(err);
  };
}

/** Counts connections closed for a limit, one child per reason. */
function labelledCounter(metrics: Metrics): (reason: string) => void {
  const byReason = labelled((reason: string) => metrics.connectionsClosed.labels(reason));
  return (reason) => byReason(reason).inc();
}

async function ready(store: RevocationStore): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS)));
  try {
    return await Promise.race([
      store.ping().then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function readTls(files: NonNullable<Config["tls"]>): { cert: Buffer; key: Buffer } {
  const read = (name: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError(`${name}: cannot read ${path}: ${(err as Error).message}`);
    }
  };
  return { cert: read("TLS_CERT_FILE", files.certFile), key: read("TLS_KEY_FILE", files.keyFile) };
}
