import type { Logger } from "../logger.js";
import type { TracingConfig } from "./tracing-config.js";
import type { Tracing } from "./tracing.js";

/**
 * Tracing as configured, or undefined when it is off. The OpenTelemetry SDK
 * is imported here, dynamically, only when tracing is on: a service without
 * OTEL_* variables never loads it.
 */
export async function startTracing(config: TracingConfig | undefined, logger: Logger): Promise<Tracing | undefined> {
  if (config === undefined) return undefined;
  const { createOtelTracing } = await import("./otel-tracing.js");
  return createOtelTracing(config, logger);
}
