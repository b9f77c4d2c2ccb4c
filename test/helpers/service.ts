import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApp, type App } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";

/** A running service on a free port, built the way main.ts builds it. */
export interface TestService {
  port: number;
  /** `http://127.0.0.1:<port>` */
  baseUrl: string;
  app: App;
  close(): Promise<void>;
}

/** The admin key test services are started with (unless overridden). */
export const ADMIN_KEY = "test-admin-key-0123456789";

/**
 * Starts the service in this process on port 0. `env` is what main.ts would
 * read; without REDIS_URL or SQLITE_PATH the store is SQLite in a temp dir.
 */
export async function startService(
  env: Record<string, string | undefined> = {},
  options: { logLines?: string[] } = {},
): Promise<TestService> {
  let dir: string | undefined;
  if (env.REDIS_URL === undefined && env.SQLITE_PATH === undefined) {
    dir = mkdtempSync(join(tmpdir(), "tb-sqlite-"));
    env = { ...env, SQLITE_PATH: join(dir, "tokens.db") };
  }
  const config = loadConfig({ ADMIN_KEY, HOST: "127.0.0.1", ...env, PORT: "0" });
  const lines = options.logLines;
  const logger =
    lines === undefined ? createLogger("silent") : createLogger(config.logLevel, { write: (line: string) => void lines.push(line) });
  const app = await startApp(config, logger);
  const port = app.address.port;
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    app,
    async close() {
      await app.close(2000, 20);
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}
