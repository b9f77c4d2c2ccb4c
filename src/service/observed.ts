import { Code, ConnectError } from "@connectrpc/connect";
import { type CallContext, type CallRecord, REQUEST_ID_HEADER, type ServiceObserver, type Trace } from "./types.js";
import { ErrorReason, refusal, withErrorInfo } from "./error-reasons.js";

/** What a caller is told of an internal error: the details go to the log, never over the wire. */
export const INTERNAL_MESSAGE = "Internal error; the server log has details";

/**
 * Wraps one RPC so that, whichever transport called it:
 * - a call with a deadline ends when its signal aborts (the deadline:
 *   DEADLINE_EXCEEDED; the client gone: CANCELED), even if the work behind it
 *   is still running;
 * - a failure that is not a ConnectError is reported once, as an internal
 *   error, and leaves as INTERNAL with a stable message;
 * - every failure leaves with an ErrorInfo (Connect's own handlers send what
 *   the error carries);
 * - the observer hears of every outcome, with the call's request id;
 * - with tracing on, the call is a server span, parent of what it starts.
 */
export function observed<Req, R>(
  observer: ServiceObserver | undefined,
  rpc: string,
  run: (request: Req, ctx: CallContext, trace: Trace) => Promise<R>,
): (request: Req, ctx: CallContext) => Promise<R> {
  const tracer = observer?.tracer;
  return async (request, ctx) => {
    const started = performance.now();
    observer?.callStarted(rpc);
    const trace: Trace = { fingerprint: undefined };
    const span = tracer?.startCall(rpc, ctx);
    let failure: ConnectError | undefined;
    try {
      const work = span === undefined ? run(request, ctx, trace) : span.run(() => run(request, ctx, trace));
      return await (ctx.timeoutMs() === undefined ? work : untilAborted(work, ctx.signal));
    } catch (err) {
      if (err instanceof ConnectError) {
        failure = withErrorInfo(err);
      } else {
        observer?.internalError(rpc, ctx.protocolName, err);
        failure = refusal(Code.Internal, ErrorReason.INTERNAL, INTERNAL_MESSAGE, undefined, err);
      }
      throw failure;
    } finally {
      const record: CallRecord = {
        rpc,
        protocol: ctx.protocolName,
        code: failure?.code,
        durationMs: performance.now() - started,
        fingerprint: trace.fingerprint,
        message: failure?.rawMessage,
        requestId: ctx.requestHeader.get(REQUEST_ID_HEADER) ?? undefined,
      };
      observer?.callCompleted(record);
      span?.end(record);
    }
  };
}

/** The error a call ends with when its signal aborts. */
export function abortError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) return reason;
  return refusal(Code.Canceled, ErrorReason.CANCELLED, "the client cancelled the call", undefined, reason);
}

/** Settles with `work`, or rejects with {@link abortError} as soon as `signal` aborts. */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}); // it may still fail; nobody waits for it
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(abortError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
