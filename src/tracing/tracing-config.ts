/**
 * The standard OpenTelemetry variables (OTEL_*) -> a validated tracing
 * configuration, or undefined when tracing is off. Read as the OTLP exporter
 * and the SDK's resource detectors read them, but strictly: where the SDK
 * logs a warning and carries on with a default, a bad value stops start-up
 * here, naming the variable.
 */
import { ConfigError } from "../config-error.js";
import { type Env, integer } from "../env-values.js";
import { safeUrl } from "../safe-url.js";

/** The samplers of OTEL_TRACES_SAMPLER this service offers (the SDK's own). */
export const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;

/** How tracing runs when it is on. */
export interface TracingConfig {
  /** Where spans are POSTed, OTLP over HTTP with protobuf bodies (`.../v1/traces`). */
  url: string;
  /** OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, decoded. Values may be secrets: never logged. */
  headers: Record<string, string>;
  /** OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT: one export request's limit. */
  exportTimeoutMs: number;
  compression: "gzip" | "none";
  /** service.name (OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES, else `token-blacklist`) and OTEL_RESOURCE_ATTRIBUTES. */
  resource: Record<string, string>;
  sampler: { name: (typeof SAMPLERS)[number]; ratio: number };
  /** The batch span processor (OTEL_BSP_*). */
  batch: { scheduledDelayMillis: number; exportTimeoutMillis: number; maxQueueSize: number; maxExportBatchSize: number };
}

/** The OTLP/HTTP port and path the specification defaults to. */
const DEFAULT_TRACES_URL = "http://localhost:4318/v1/traces";

/**
 * On when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is
 * set, or OTEL_TRACES_EXPORTER=otlp (then to localhost:4318); off otherwise,
 * and with OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none whatever else
 * is set. The rest is only read (and checked) when tracing is on.
 */
export function loadTracingConfig(env: Env): TracingConfig | undefined {
  if (flag(env, "OTEL_SDK_DISABLED")) return undefined;
  const exporter = oneOf(env, "OTEL_TRACES_EXPORTER", ["otlp", "none"] as const, undefined);
  if (exporter === "none") return undefined;
  const url = tracesUrl(env);
  if (url === undefined && exporter === undefined) return undefined;
  for (const name of ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"]) {
    const protocol = value(env, name);
    if (protocol !== undefined && protocol !== "http/protobuf") {
      throw new ConfigError(`${name}: only http/protobuf is supported (OTLP over HTTP), got "${protocol}"`);
    }
  }
  const sampler = oneOf(env, "OTEL_TRACES_SAMPLER", SAMPLERS, "parentbased_always_on");
  const maxQueueSize = integer(env, "OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1_000_000);
  return {
    url: url ?? DEFAULT_TRACES_URL,
    headers: {
      ...keyValues(env, "OTEL_EXPORTER_OTLP_HEADERS"),
      ...keyValues(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"),
    },
    exportTimeoutMs: signalOrGeneral(env, "TIMEOUT", (name) => integer(env, name, 10_000, 1, 600_000)),
    compression: signalOrGeneral(env, "COMPRESSION", (name) => oneOf(env, name, ["gzip", "none"] as const, "none")),
    resource: resource(env),
    sampler: { name: sampler, ratio: sampler.endsWith("traceidratio") ? ratio(env, "OTEL_TRACES_SAMPLER_ARG") : 1 },
    batch: {
      scheduledDelayMillis: integer(env, "OTEL_BSP_SCHEDULE_DELAY", 5000, 1, 3_600_000),
      exportTimeoutMillis: integer(env, "OTEL_BSP_EXPORT_TIMEOUT", 30_000, 1, 600_000),
      maxQueueSize,
      maxExportBatchSize: integer(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", Math.min(512, maxQueueSize), 1, maxQueueSize),
    },
  };
}

/** The traces endpoint as the exporter resolves it: the signal's own URL as is, else the general one plus `v1/traces`. */
function tracesUrl(env: Env): string | undefined {
  const own = value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if (own !== undefined) return httpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", own);
  const general = value(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (general === undefined) return undefined;
  return httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT", `${general.endsWith("/") ? general : `${general}/`}v1/traces`);
}

function httpUrl(name: string, raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new ConfigError(`${name}: expected an http(s) URL like http://collector:4318, got ${safeUrl(raw)}`);
  }
  return url.href;
}

/** service.name defaults to this service's; OTEL_RESOURCE_ATTRIBUTES may set it, OTEL_SERVICE_NAME wins over both. */
function resource(env: Env): Record<string, string> {
  const attributes: Record<string, string> = { "service.name": "token-blacklist", ...keyValues(env, "OTEL_RESOURCE_ATTRIBUTES") };
  const serviceName = value(env, "OTEL_SERVICE_NAME");
  if (serviceName !== undefined) attributes["service.name"] = serviceName;
  return attributes;
}

/** `OTEL_EXPORTER_OTLP_TRACES_<suffix>` when set, else `OTEL_EXPORTER_OTLP_<suffix>` (both checked). */
function signalOrGeneral<T>(env: Env, suffix: string, read: (name: string) => T): T {
  const general = read(`OTEL_EXPORTER_OTLP_${suffix}`);
  const own = `OTEL_EXPORTER_OTLP_TRACES_${suffix}`;
  return value(env, own) === undefined ? general : read(own);
}

/** `key=value,key=value`, values percent-encoded (W3C Baggage's format, as the SDK reads it). Values are never echoed. */
function keyValues(env: Env, name: string): Record<string, string> {
  const raw = value(env, name);
  const out: Record<string, string> = {};
  if (raw === undefined) return out;
  for (const [index, item] of raw.split(",").entries()) {
    if (item.trim() === "") continue;
    const equals = item.indexOf("=");
    const key = equals < 0 ? "" : item.slice(0, equals).trim();
    let decoded: string | undefined;
    try {
      decoded = decodeURIComponent(item.slice(equals + 1).trim());
    } catch {
      decoded = undefined;
    }
    if (!/^[\x21-\x7e]+$/.test(key) || decoded === undefined) {
      throw new ConfigError(`${name}: item ${index + 1} is not key=value (a printable key, a percent-encoded value)`);
    }
    out[key] = decoded;
  }
  return out;
}

function value(env: Env, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw === undefined || raw === "" ? undefined : raw;
}

function flag(env: Env, name: string): boolean {
  const raw = value(env, name)?.toLowerCase();
  if (raw === undefined || raw === "false") return false;
  if (raw === "true") return true;
  throw new ConfigError(`${name}: expected true or false, got "${env[name]}"`);
}

function oneOf<T extends string, F extends T | undefined>(env: Env, name: string, values: readonly T[], fallback: F): T | F {
  const raw = value(env, name);
  if (raw === undefined) return fallback;
  const lower = raw.toLowerCase();
  if (!(values as readonly string[]).includes(lower)) throw new ConfigError(`${name}: expected one of ${values.join(", ")}, got "${raw}"`);
  return lower as T;
}

function ratio(env: Env, name: string): number {
  const raw = value(env, name);
  if (raw === undefined) return 1;
  const number = /^(\d+(\.\d*)?|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(number >= 0 && number <= 1)) throw new ConfigError(`${name}: expected a sampling ratio from 0 to 1, got "${raw}"`);
  return number;
}
