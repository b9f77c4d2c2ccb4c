/**
 * The types every part of the service layer and its transports share. A leaf
 * module: it imports only types from below (store, jwt, generated code), so
 * the handlers and the transports never import each other in a cycle.
 */
import type { Code } from "@connectrpc/connect";
import type { MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import type { Verifier } from "../jwt/verifier.js";
import type { AuditEvent, RevocationStore } from "../store/revocation-store.js";

/**
 * The request header that names a call: the caller's `x-request-id` when valid,
 * else one the server made. Every transport answers `requestHeader.get` of it
 * with that id, and sends it back on the response.
 */
export const REQUEST_ID_HEADER = "x-request-id";

/** What a handler reads of a call, on every transport: headers (gRPC metadata), protocol, and when to stop. */
export interface CallContext {
  readonly requestHeader: { get(name: string): string | null };
  /** "grpc", "grpc-web" or "connect", or "rest". */
  readonly protocolName: string;
  /**
   * Aborts when the call's deadline passes (reason: a ConnectError
   * DEADLINE_EXCEEDED) or the client goes away; a handler then stops, and
   * starts no store write it has not started yet.
   */
  readonly signal: AbortSignal;
  /**
   * Milliseconds left before the call's deadline, or undefined when the
   * client set none (Connect's HandlerContext has the same method). Only a
   * call with a deadline is raced against its signal: the hot path without
   * one allocates no signal at all unless a handler reads it.
   */
  timeoutMs(): number | undefined;
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
  /** The call's `x-request-id`, as sent back to the caller. */
  requestId: string | undefined;
}

/** Store operations, as metrics and logs name them. */
export type StoreOperationName = "check" | "revoke" | "restore" | "lookup" | "history";

/**
 * Traces calls (OpenTelemetry, when configured). Absent when tracing is off,
 * so an untraced call costs a check of `undefined` and nothing else.
 */
export interface CallTracer {
  /** Starts a call's server span, continuing the caller's trace (`traceparent`, `tracestate`). */
  startCall(rpc: string, ctx: CallContext): TracedCall;
}

/** One call's server span. */
export interface TracedCall {
  /** Runs the handler with this span as the parent of what it starts (verification, store round trips). */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Records the outcome (code, fingerprint, request id) and ends the span. */
  end(record: CallRecord): void;
}

/** Hooks for logs, metrics and traces; they receive fingerprints, never tokens. */
export interface ServiceObserver {
  /** Set when tracing is on. */
  readonly tracer?: CallTracer | undefined;
  /** A call reached its handler (every callStarted is followed by one callCompleted). */
  callStarted(rpc: string): void;
  callCompleted(record: CallRecord): void;
  /** A revocation was added or lifted; `event` is what the history recorded. */
  changed(event: AuditEvent): void;
  storeError(operation: StoreOperationName, fingerprint: string | undefined, error: Error): void;
  /** Info said "valid" without a revocation check (FAIL_OPEN=true, store down). */
  failedOpen(fingerprint: string): void;
  /** A handler failed in a way no rule foresaw (a bug, or a dependency misbehaving): the caller got INTERNAL. */
  internalError(rpc: string, protocol: string, error: unknown): void;
}

/** Per-call facts the observer reports once the call ends. */
export interface Trace {
  fingerprint: string | undefined;
}

/** What the TokenService rules need. */
export interface TokenServiceDeps {
  verifier: Verifier;
  store: RevocationStore;
  /** Operator key for Unblacklist and the operator RPCs; undefined disables them. */
  adminKey: string | undefined;
  maxTokenBytes: number;
  /** The issuer operator RPCs scope a jti or subject to when the request names none (JWT_ISSUER). */
  issuer: string;
  /** Longest token lifetime accepted; bounds how long jti and subject entries are kept. Undefined: no limit, kept until lifted. */
  maxLifetimeSeconds: number | undefined;
  clockToleranceSeconds: number;
  /** Info answers "valid" when the store is down, instead of UNAVAILABLE. */
  failOpen?: boolean;
  observer?: ServiceObserver;
}

/** The unary RPCs of TokenService (WatchRevocations, a stream, is served by the revocation feed). */
type Methods = {
  [K in keyof (typeof TokenService)["method"] as (typeof TokenService)["method"][K]["methodKind"] extends "unary"
    ? K
    : never]: (typeof TokenService)["method"][K];
};

/**
 * The rules of every TokenService RPC. Every transport (gRPC, gRPC-Web,
 * Connect, REST) calls these same functions, so they give the same answer;
 * failures are `ConnectError`s with the code that says why.
 */
export type TokenServiceHandlers = {
  [K in keyof Methods]: (request: MessageShape<Methods[K]["input"]>, ctx: CallContext) => Promise<MessageInitShape<Methods[K]["output"]>>;
};
