import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config.js";
import { loadTracingConfig } from "../../src/tracing/tracing-config.js";

const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" };

describe("tracing configuration (OTEL_*)", () => {
  it("is off without an endpoint, and with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none whatever else is set", () => {
    expect(loadTracingConfig({})).toBeUndefined();
    expect(loadTracingConfig({ OTEL_SERVICE_NAME: "x", OTEL_BSP_SCHEDULE_DELAY: "nonsense" })).toBeUndefined();
    expect(loadTracingConfig({ ...endpoint, OTEL_SDK_DISABLED: "TRUE" })).toBeUndefined();
    expect(loadTracingConfig({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toBeUndefined();
  });

  it("resolves the traces URL as the exporter does, with the specification's defaults", () => {
    expect(loadTracingConfig(endpoint)).toEqual({
      url: "http://collector:4318/v1/traces",
      headers: {},
      exportTimeoutMs: 10_000,
      compression: "none",
      resource: { "service.name": "token-blacklist" },
      sampler: { name: "parentbased_always_on", ratio: 1 },
      batch: { scheduledDelayMillis: 5000, exportTimeoutMillis: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 },
    });
    expect(loadTracingConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://c.example/otlp/" })?.url).toBe("https://c.example/otlp/v1/traces");
    expect(loadTracingConfig({ ...endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces.example:4318/custom" })?.url).toBe(
      "http://traces.example:4318/custom",
    );
    expect(loadTracingConfig({ OTEL_TRACES_EXPORTER: "otlp" })?.url).toBe("http://localhost:4318/v1/traces");
  });

  it("reads headers, resource, sampler, timeouts and batching, the signal's own variables first", () => {
    const config = loadTracingConfig({
      ...endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%20b, x-tenant=acme",
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: "api-key=c",
      OTEL_EXPORTER_OTLP_TIMEOUT: "2000",
      OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: "gzip",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=prod,service.name=from-attributes",
      OTEL_SERVICE_NAME: "tokens-eu",
      OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.25",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_BSP_MAX_QUEUE_SIZE: "100",
    });
    expect(config).toMatchObject({
      headers: { "api-key": "c", "x-tenant": "acme" },
      exportTimeoutMs: 2000,
      compression: "gzip",
      resource: { "service.name": "tokens-eu", "deployment.environment.name": "prod" },
      sampler: { name: "parentbased_traceidratio", ratio: 0.25 },
      batch: { scheduledDelayMillis: 100, maxQueueSize: 100, maxExportBatchSize: 100 },
    });
  });

  it.each([
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL"],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "grpc://c:4317" }, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http(s) URL"],
    [{ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }, "OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf"],
    [{ ...endpoint, OTEL_TRACES_EXPORTER: "zipkin" }, "OTEL_TRACES_EXPORTER: expected one of otlp, none"],
    [{ ...endpoint, OTEL_SDK_DISABLED: "yes" }, "OTEL_SDK_DISABLED: expected true or false"],
    [{ ...endpoint, OTEL_EXPORTER_OTLP_HEADERS: "api-key" }, "OTEL_EXPORTER_OTLP_HEADERS: item 1 is not key=value"],
    [{ ...endpoint, OTEL_RESOURCE_ATTRIBUTES: "a=1,b=%zz" }, "OTEL_RESOURCE_ATTRIBUTES: item 2 is not key=value"],
    [{ ...endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: "0" }, "OTEL_EXPORTER_OTLP_TIMEOUT: expected a whole number"],
    [{ ...endpoint, OTEL_EXPORTER_OTLP_COMPRESSION: "zstd" }, "OTEL_EXPORTER_OTLP_COMPRESSION: expected one of gzip, none"],
    [
      { ...endpoint, OTEL_TRACES_SAMPLER: "traceidratio", OTEL_TRACES_SAMPLER_ARG: "1.5" },
      "OTEL_TRACES_SAMPLER_ARG: expected a sampling ratio",
    ],
    [{ ...endpoint, OTEL_BSP_SCHEDULE_DELAY: "5s" }, "OTEL_BSP_SCHEDULE_DELAY: expected a whole number"],
    [
      { ...endpoint, OTEL_BSP_MAX_QUEUE_SIZE: "10", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "20" },
      "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: expected a whole number from 1 to 10",
    ],
  ])("refuses %o", (env, message) => {
    expect(() => loadTracingConfig(env)).toThrow(ConfigError);
    expect(() => loadTracingConfig(env)).toThrow(message);
  });

  it("never echoes a header value (it may be a key)", () => {
    const env = { ...endpoint, OTEL_EXPORTER_OTLP_HEADERS: "authorization=Bearer%20s3cret,broken=%" };
    expect(() => loadTracingConfig(env)).toThrow("OTEL_EXPORTER_OTLP_HEADERS: item 2 is not key=value");
    expect(() => loadTracingConfig(env)).not.toThrow(/s3cret|broken/);
  });
});
