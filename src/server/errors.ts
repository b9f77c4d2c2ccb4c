import type { OutgoingHttpHeaders } from "node:http";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ErrorReason, errorInfoOf, type ReasonInfo, refusal } from "../service/error-reasons.js";
import { encodeErrorInfo, encodeStatus } from "./error-info-wire.js";
import { INTERNAL_MESSAGE } from "../service/observed.js";

/**
 * How one failure is said on each protocol: the same code and message
 * everywhere, in each protocol's own shape. Anything that is not a
 * ConnectError is our bug and says only INTERNAL_MESSAGE.
 */
export const asConnectError = (err: unknown): ConnectError =>
  err instanceof ConnectError ? err : refusal(Code.Internal, ErrorReason.INTERNAL, INTERNAL_MESSAGE);

/** Marks a RESOURCE_EXHAUSTED that is a request body over the limit (HTTP 413 where statuses speak). */
class RequestTooLarge extends Error {
  override name = "RequestTooLarge";
}

/** The error for a request body over `maxBytes`, on every protocol: RESOURCE_EXHAUSTED (gRPC's convention), HTTP 413. */
export const requestTooLarge = (maxBytes: number) =>
  refusal(
    Code.ResourceExhausted,
    ErrorReason.REQUEST_TOO_LARGE,
    `Request body is larger than ${maxBytes} bytes`,
    undefined,
    new RequestTooLarge(),
  );

/** The HTTP status of a failure where the status carries it (REST, Connect unary): Connect's mapping, 413 for a body too large. */
export function httpStatusOf(err: ConnectError): number {
  return err.cause instanceof RequestTooLarge ? 413 : codeToHttpStatus(err.code);
}

/**
 * A REST error body: the original service's fields, the code, and the
 * ErrorInfo's `reason` (and its `metadata` when there is any).
 */
export function restErrorBody(err: ConnectError) {
  const info = errorInfoOf(err);
  const body: { success: false; info: string; code: string; reason: string; metadata?: Record<string, string> } = {
    success: false,
    info: err.rawMessage,
    code: codeToString(err.code),
    reason: info.reason,
  };
  if (Object.keys(info.metadata).length > 0) body.metadata = info.metadata;
  return body;
}

/**
 * A Connect protocol error body (the end-of-stream JSON of unary calls), with
 * the ErrorInfo as Connect's handlers write a detail: its type, its binary
 * value in unpadded base64, and its JSON under `debug`.
 */
export function connectErrorBody(err: ConnectError) {
  const info = errorInfoOf(err);
  const detail = remembered(connectDetails, err, info, () => {
    // `debug` is the detail's proto JSON, which omits an empty map.
    const debug = Object.keys(info.metadata).length === 0 ? { reason: info.reason, domain: info.domain } : info;
    return Object.freeze({ type: ErrorInfoSchema.typeName, value: base64Encode(encodeErrorInfo(info), "std_raw"), debug });
  });
  return { code: codeToString(err.code), message: err.rawMessage, details: [detail] };
}

/**
 * `grpc-status`, `grpc-message` and `grpc-status-details-bin` (a
 * google.rpc.Status holding the ErrorInfo) for a trailers-only gRPC (or
 * gRPC-Web) error answer.
 */
export function grpcStatusHeaders(err: ConnectError): Readonly<OutgoingHttpHeaders> {
  const info = errorInfoOf(err);
  return remembered(grpcHeaders, err, info, () =>
    Object.freeze({
      "grpc-status": String(err.code),
      "grpc-message": encodeGrpcMessage(err.rawMessage),
      "grpc-status-details-bin": base64Encode(encodeStatus(err.code, err.rawMessage, info), "std_raw"),
    }),
  );
}

/**
 * Encoded refusals, by what they say: most repeat (a revoked token's is the
 * same every time), and encoding one cost more than the rest of a refused
 * gRPC call's work (a profile under a load of revoked tokens: garbage from
 * the encoders, 15 % of the samples). Bounded: messages can quote a request.
 */
const grpcHeaders = new Map<string, Readonly<OutgoingHttpHeaders>>();
const connectDetails = new Map<string, Readonly<{ type: string; value: string; debug: object }>>();
const MAX_REMEMBERED = 256;

function remembered<T>(cache: Map<string, T>, err: ConnectError, info: ReasonInfo, encode: () => T): T {
  const metadata = Object.keys(info.metadata).length === 0 ? "" : JSON.stringify(info.metadata);
  const key = `${err.code}\0${info.reason}\0${info.domain}\0${metadata}\0${err.rawMessage}`;
  let value = cache.get(key);
  if (value === undefined) {
    value = encode();
    if (cache.size >= MAX_REMEMBERED) cache.clear();
    cache.set(key, value);
  }
  return value;
}

/**
 * Percent-encodes a status message for `grpc-message` as the gRPC spec asks:
 * only bytes outside 0x20-0x7E, and "%". (Connect encodes with
 * encodeURIComponent, which is valid, but @grpc/grpc-js decodes with
 * `decodeURI`, so its users would read "header%3A send".)
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Re-encodes a `grpc-message` another encoder wrote (Connect's) with {@link encodeGrpcMessage}. */
export function reencodeGrpcMessage(value: string): string {
  try {
    return encodeGrpcMessage(decodeURIComponent(value));
  } catch {
    return value;
  }
}
