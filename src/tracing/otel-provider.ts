import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { createRequire } from "node:module";
import type { TracingConfig } from "./tracing-config.js";

type Compression = NonNullable<ConstructorParameters<typeof OTLPTraceExporter>[0]>["compression"];

/**
 * The SDK's tracer provider as configured: OTLP over HTTP (protobuf) through
 * a batch span processor, the configured sampler and resource. Not registered
 * globally: only this service's spans go through it. TLS files
 * (OTEL_EXPORTER_OTLP_CERTIFICATE...) are read by the exporter itself.
 */
export function createTracerProvider(config: TracingConfig): TracerProvider {
  const exporter = new OTLPTraceExporter({
    url: config.url,
    headers: config.headers,
    timeoutMillis: config.exportTimeoutMs,
    compression: config.compression as Compression,
  });
  return new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ "service.version": packageVersion(), ...config.resource })),
    sampler: sampler(config.sampler),
    spanProcessors: [new BatchSpanProcessor({ exporter, ...config.batch })],
  });
}

function sampler({ name, ratio }: TracingConfig["sampler"]): Sampler {
  const root = (kind: string): Sampler =>
    kind === "always_off" ? new AlwaysOffSampler() : kind === "traceidratio" ? new TraceIdRatioBasedSampler(ratio) : new AlwaysOnSampler();
  return name.startsWith("parentbased_") ? new ParentBasedSampler({ root: root(name.slice("parentbased_".length)) }) : root(name);
}

/** This package's version, for `service.version` (the package names itself: package.json exports `./package.json`). */
function packageVersion(): string {
  return (createRequire(import.meta.url)("token-blacklist/package.json") as { version: string }).version;
}
