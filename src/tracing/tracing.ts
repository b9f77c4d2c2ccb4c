import type { CallTracer } from "../service/types.js";

/** Where a child span's work goes: in this process, or a round trip to another. */
export type ChildKind = "internal" | "client";

/**
 * Tracing, once on: what the app composes. A types-only leaf, so nothing that
 * imports it loads the OpenTelemetry SDK (only `start-tracing.ts` does, and
 * only when tracing is configured).
 */
export interface Tracing {
  /** observed()'s hook: a server span per call. */
  readonly calls: CallTracer;
  /** Runs `work` as a child span of the call in progress; outside a call (a readiness probe), untraced. */
  child<T>(name: string, kind: ChildKind, attributes: Readonly<Record<string, string>>, work: () => Promise<T>): Promise<T>;
  /** Exports the spans still buffered and stops; gives up after `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}
