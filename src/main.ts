/**
 * Entry point: environment -> config -> keys, store, service -> one port.
 * Stops gracefully on SIGTERM/SIGINT.
 */
import "./supported-node.js"; // first: on an unsupported Node it stops before anything else loads
import cluster from "node:cluster";
import { startApp } from "./app.js";
import { runPrimary } from "./cluster.js";
import { ConfigError, DEFAULT_JWT_SECRET, loadConfig, type Config } from "./config.js";
import { KeysUnavailable } from "./jwt/key-source.js";
import { createLogger } from "./logger.js";
import { safeUrl } from "./safe-url.js";
import { describeTopology } from "./store/redis-topology.js";
import { StoreUnavailable } from "./store/revocation-store.js";

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      createLogger("info").fatal(`invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  if (config.workers > 1 && cluster.isPrimary) {
    runPrimary(config.workers, logger);
    return;
  }

  const app = await startApp(config, logger).catch((err: unknown) => {
    if (err instanceof StoreUnavailable) {
      logger.fatal(`cannot open the revocation store: ${err.message}`);
      process.exit(1);
    }
    if (err instanceof KeysUnavailable) {
      logger.fatal(`cannot load verification keys: ${err.message}`);
      process.exit(1);
    }
    if (err instanceof ConfigError) {
      logger.fatal(`invalid configuration: ${err.message}`);
      process.exit(2);
    }
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
      logger.fatal(`PORT ${config.port} is already in use: stop what holds it or set PORT`);
      process.exit(1);
    }
    throw err;
  });
  logger.info(
    {
      port: app.address.port,
      store: config.store.kind === "redis" ? describeTopology(config.store.topology) : `sqlite:${config.store.path}`,
      keys: config.jwt.key.kind,
      issuer: config.jwt.issuer,
      algorithms: config.jwt.algorithms,
      unblacklist: config.adminKey === undefined ? "disabled (set ADMIN_KEY)" : "enabled",
      failOpen: config.failOpen,
      tls: config.tls !== undefined,
      cors: config.corsOrigins,
      tracing: config.tracing === undefined ? "off" : safeUrl(config.tracing.url),
    },
    "token-blacklist listening",
  );
  if (config.jwt.key.kind === "secret" && config.jwt.key.secret === DEFAULT_JWT_SECRET) {
    logger.warn("using the default JWT_SECRET; set JWT_SECRET before this serves real tokens");
  }
  if (config.adminKey !== undefined && config.adminKey.length < 32) {
    logger.warn("ADMIN_KEY is shorter than 32 characters; NODE_ENV=production refuses it");
  }
  if (config.failOpen) {
    logger.warn("FAIL_OPEN=true: while the store is down, revoked tokens will be accepted");
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    await app.close(config.shutdown.timeoutMs, config.shutdown.drainMs);
    logger.info("stopped");
    logger.flush();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  createLogger("info").fatal({ err }, "start-up failed");
  process.exit(1);
});
