import { Code, ConnectError } from "@connectrpc/connect";
import type { CallContext, ServiceObserver, Trace } from "./types.js";

/** What a caller is told of an internal error: the details go to the log, never over the wire. */
export const INTERNAL_MESSAGE = "Internal error; the server log has details";

/**
 * Wraps one RPC so that, whichever transport called it:
 * - a call with a deadline ends when its signal aborts (the deadline:
 *   DEADLINE_EXCEEDED; the client gone: CANCELED), even if the work behind it
 *   is still running;
 * - a failure that is not a ConnectError is reported once, as an internal
 *   error, and leaves as INTERNAL with a stable message;
 * - the observer hears of every outcome.
 */
export function observed<Req, R>(
  observer: ServiceObserver | undefined,
  rpc: string,
  run: (request: Req, ctx: CallContext, trace: Trace) => Promise<R>,
): (request: Req, ctx: CallContext) => Promise<R> {
  return async (request, ctx) => {
    const started = performance.now();
    observer?.callStarted(rpc);
    const trace: Trace = { fingerprint: undefined };
    let failure: ConnectError | undefined;
    try {
      const work = run(request, ctx, trace);
      return await (ctx.timeoutMs() === undefined ? work : untilAborted(work, ctx.signal));
    } catch (err) {
      if (err instanceof ConnectError) {
        failure = err;
      } else {
        observer?.internalError(rpc, ctx.protocolName, err);
        failure = new ConnectError(INTERNAL_MESSAGE, Code.Internal, undefined, undefined, err);
      }
      throw failure;
    } finally {
      observer?.callCompleted({
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

/** The error a call ends with when its signal aborts. */
export function abortError(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) return reason;
  return new ConnectError("the client cancelled the call", Code.Canceled, undefined, undefined, reason);
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
