import { Code, ConnectError } from "@connectrpc/connect";
import { INTERNAL_MESSAGE, untilAborted } from "../service/observed.js";
import { type CallContext, REQUEST_ID_HEADER, type UnaryHandler } from "../service/types.js";
import { deadlineExceeded, requestTimeoutMs } from "./deadline.js";
import { type Exchange, RequestCancelled } from "./exchange.js";
import { headerValue } from "./header-value.js";
import { ErrorReason, refusal } from "../service/error-reasons.js";

/** A unary call's result, for a transport to encode: the response message (init shape), or why not. */
export type UnaryOutcome = { response: Record<string, unknown>; error?: undefined } | { response?: undefined; error: ConnectError };

/** What runs a unary call once a transport has picked its handler. */
export interface UnaryCall {
  /** The RPC's handler. */
  handler: UnaryHandler;
  /** "grpc", "connect" or "rest": what handlers and logs see as the protocol. */
  protocol: string;
  /** Reads the request to its end and decodes the message (at once when there is nothing to read); a bad one is a ConnectError. */
  decode(): unknown;
  /** Failures that are our fault (never the caller's input). */
  onInternalError: (err: unknown) => void;
}

/**
 * Runs one unary call the same way for every fast-path transport (gRPC,
 * Connect, REST): the deadline from `grpc-timeout` or `connect-timeout-ms`
 * runs from the moment the request arrived, through reading the body, to the
 * handler's answer (DEADLINE_EXCEEDED when it passes); the handler's signal
 * aborts at the deadline and when the client goes away; a request the client
 * cancels before it is complete never reaches the handler. Never rejects.
 */
export async function runUnary(exchange: Exchange, call: UnaryCall): Promise<UnaryOutcome> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeoutMs = requestTimeoutMs(exchange.headers);
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    let request: unknown;
    let signal: AbortSignal | undefined; // without a deadline, the exchange's own, made only if a handler asks
    if (timeoutMs === undefined) {
      const decoded = call.decode();
      request = decoded instanceof Promise ? await decoded : decoded;
    } else {
      const controller = new AbortController();
      const clientGone = exchange.signal;
      if (clientGone.aborted) controller.abort(clientGone.reason);
      else clientGone.addEventListener("abort", () => controller.abort(clientGone.reason), { once: true });
      timer = setTimeout(() => controller.abort(deadlineExceeded(timeoutMs)), timeoutMs);
      signal = controller.signal;
      request = await untilAborted(
        Promise.resolve().then(() => call.decode()),
        signal,
      );
    }
    const ctx = new UnaryCallContext(exchange, call.protocol, deadline, signal);
    return { response: (await call.handler(request, ctx)) as Record<string, unknown> };
  } catch (err) {
    if (err instanceof ConnectError) return { error: err };
    if (err instanceof RequestCancelled) return { error: refusal(Code.Canceled, ErrorReason.CANCELLED, err.message) };
    call.onInternalError(err);
    return { error: refusal(Code.Internal, ErrorReason.INTERNAL, INTERNAL_MESSAGE) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The CallContext of a fast-path call. A class: an object literal with a
 * getter and closures, made per call, cost about 18,000 instructions a
 * request here (callgrind); prototype methods cost nothing per call.
 */
class UnaryCallContext implements CallContext {
  constructor(
    private readonly exchange: Exchange,
    readonly protocolName: string,
    private readonly deadline: number | undefined,
    private readonly deadlineSignal: AbortSignal | undefined,
  ) {}

  /** Headers as `Headers.get` reads them: this object is its own header view. */
  get requestHeader(): { get(name: string): string | null } {
    return this;
  }

  /** The request id is the exchange's (the caller's when valid, else a new one), as every transport answers it. */
  get(name: string): string | null {
    return name === REQUEST_ID_HEADER ? this.exchange.requestId : headerValue(this.exchange.headers[name]);
  }

  /** The deadline's signal, or (made only now, when a handler asks) the exchange's. */
  get signal(): AbortSignal {
    return this.deadlineSignal ?? this.exchange.signal;
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : Math.max(0, this.deadline - Date.now());
  }
}
