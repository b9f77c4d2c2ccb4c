/**
 * Entry point: environment -> config -> store -> verifier -> service -> one port.
 * Stops gracefully on SIGTERM/SIGINT.
 */
import { ConfigError, DEFAULT_JWT_SECRET, loadConfig, type Config } from "./config.js";
import { startApp } from "./app.js";
import { StoreUnavailable } from "./store/revocation-store.js";

function log(level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields });
  (level === "info" ? process.stdout : process.stderr).write(line + "\n");
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      log("error", `invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const app = await startApp(config, {
    onInternalError: (err) => log("error", "internal error", { error: String(err) }),
  }).catch((err: unknown) => {
    if (err instanceof StoreUnavailable) {
      log("error", `cannot open the revocation store: ${err.message}`);
      process.exit(1);
    }
    throw err;
  });
  const address = app.address;
  log("info", "token-blacklist listening", {
    port: address.port,
    store: config.store.kind === "redis" ? "redis" : `sqlite:${config.store.path}`,
    issuer: config.jwt.issuer,
    algorithms: config.jwt.algorithms,
    unblacklist: config.adminKey === undefined ? "disabled (set ADMIN_KEY)" : "enabled",
  });
  if (config.jwt.secret === DEFAULT_JWT_SECRET) {
    log("warn", "using the default JWT_SECRET; set JWT_SECRET before this serves real tokens");
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log("info", "shutting down", { signal });
    await app.close();
    log("info", "stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  log("error", "start-up failed", { error: String(err) });
  process.exit(1);
});
