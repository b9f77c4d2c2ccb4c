import type { IncomingHttpHeaders } from "node:http";
import { Code } from "@connectrpc/connect";
import { ErrorReason, refusal } from "../service/error-reasons.js";

/** `grpc-timeout`: at most 8 digits and a unit (gRPC over HTTP/2, "Requests"). */
const GRPC_TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const GRPC_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };
/** `connect-timeout-ms`: at most 10 digits (the Connect protocol). */
const CONNECT_TIMEOUT = /^\d{1,10}$/;
/** setTimeout's largest delay; a longer timeout is no deadline in practice. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The call's timeout in milliseconds from its `grpc-timeout` (gRPC, gRPC-Web)
 * or `connect-timeout-ms` (Connect; REST accepts either), or undefined when
 * the client set none. A malformed value is INVALID_ARGUMENT, as Connect's
 * own handlers answer it.
 */
export function requestTimeoutMs(headers: IncomingHttpHeaders): number | undefined {
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const match = GRPC_TIMEOUT.exec(grpc);
    if (match === null)
      throw refusal(
        Code.InvalidArgument,
        ErrorReason.REQUEST_MALFORMED,
        `grpc-timeout "${grpc}" is malformed: expected up to 8 digits and a unit (H M S m u n)`,
      );
    return Math.min(Math.ceil(Number(match[1]) * GRPC_UNIT_MS[match[2]!]!), MAX_TIMER_MS);
  }
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string") {
    if (!CONNECT_TIMEOUT.test(connect))
      throw refusal(
        Code.InvalidArgument,
        ErrorReason.REQUEST_MALFORMED,
        `connect-timeout-ms "${connect}" is malformed: expected up to 10 digits`,
      );
    return Math.min(Number(connect), MAX_TIMER_MS);
  }
  return undefined;
}

/** The error a call ends with when its deadline passes. */
export const deadlineExceeded = (timeoutMs: number) =>
  refusal(Code.DeadlineExceeded, ErrorReason.DEADLINE_EXCEEDED, `the call's deadline (${timeoutMs} ms) passed before it finished`);
