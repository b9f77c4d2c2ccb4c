import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs. Nothing logged may hold a raw token or the admin
 * key: log a token's fingerprint instead. The redaction paths are a second
 * line of defence, not the first.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "token-blacklist", pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ["token", "authorization", "*.authorization", "adminKey", "*.x-admin-key"], censor: "[redacted]" },
    },
    destination,
  );
}
