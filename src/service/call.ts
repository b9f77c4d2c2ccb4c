import { Code, ConnectError } from "@connectrpc/connect";
import type { AuditEvent } from "../store/revocation-store.js";

/** What a handler reads of a call: its headers (gRPC metadata) and protocol. */
export interface CallContext {
  readonly requestHeader: { get(name: string): string | null };
  /** "grpc", "grpc-web" or "connect" (set by Connect), or "rest". */
  readonly protocolName: string;
}

/** One RPC's handler as every transport calls it: request message in, response init out. */
export type UnaryHandler = (request: unknown, ctx: CallContext) => Promise<unknown>;

/** One finished call, for logs and metrics: a fingerprint, never a token. */
export interface CallRecord {
  /** The RPC's name, as in the proto (`Info`, `RevokeSubject`...). */
  rpc: string;
  protocol: string;
  /** undefined for success. */
  code: Code | undefined;
  durationMs: number;
  /** Set once a token verified. */
  fingerprint: string | undefined;
  /** For failures: the message sent to the caller. */
  message: string | undefined;
}

/** Hooks for logs and metrics; they receive fingerprints, never tokens. */
export interface ServiceObserver {
  callCompleted(record: CallRecord): void;
  /** A revocation was added or lifted; `event` is what the history recorded. */
  changed(event: AuditEvent): void;
  storeError(operation: "check" | "revoke" | "restore" | "lookup" | "history", fingerprint: string | undefined, error: Error): void;
  /** Info said "valid" without a revocation check (FAIL_OPEN=true, store down). */
  failedOpen(fingerprint: string): void;
  /** A handler failed in a way no rule foresaw (a bug, or a dependency misbehaving): the caller got {@link INTERNAL_MESSAGE}. */
  internalError(rpc: string, protocol: string, error: unknown): void;
}

/** What a caller is told of an internal error: the details go to the log, never over the wire. */
export const INTERNAL_MESSAGE = "Internal error; the server log has details";

/** Per-call facts the observer reports once the call ends. */
export interface Trace {
  fingerprint: string | undefined;
}

/**
 * Wraps one RPC so the observer hears of it whatever the outcome. A failure
 * that is not a ConnectError is reported once, as an internal error, and
 * leaves as INTERNAL with a stable message, whichever transport called.
 * Without an observer the wrapper costs nothing.
 */
export function observed<Req, R>(
  observer: ServiceObserver | undefined,
  rpc: string,
  run: (request: Req, ctx: CallContext, trace: Trace) => Promise<R>,
): (request: Req, ctx: CallContext) => Promise<R> {
  if (observer === undefined) return (request, ctx) => run(request, ctx, { fingerprint: undefined });
  return async (request, ctx) => {
    const started = performance.now();
    const trace: Trace = { fingerprint: undefined };
    let failure: ConnectError | undefined;
    try {
      return await run(request, ctx, trace);
    } catch (err) {
      if (err instanceof ConnectError) {
        failure = err;
      } else {
        observer.internalError(rpc, ctx.protocolName, err);
        failure = new ConnectError(INTERNAL_MESSAGE, Code.Internal, undefined, undefined, err);
      }
      throw failure;
    } finally {
      observer.callCompleted({
        rpc,
        protocol: ctx.protocolName,
        code: failure?.code,
        durationMs: performance.now() - started,
        fingerprint: trace.fingerprint,
        message: failure?.rawMessage,
      });
    }
  };
}

/** The answer when the store is down: retry later, never a guess. */
export const storeUnavailable = () => new ConnectError("Revocation store is unavailable; retry later", Code.Unavailable);
