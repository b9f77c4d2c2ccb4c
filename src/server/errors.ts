import type { OutgoingHttpHeaders } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { INTERNAL_MESSAGE } from "../service/observed.js";

/**
 * How one failure is said on each protocol: the same code and message
 * everywhere, in each protocol's own shape. Anything that is not a
 * ConnectError is our bug and says only INTERNAL_MESSAGE.
 */
export const asConnectError = (err: unknown): ConnectError =>
  err instanceof ConnectError ? err : new ConnectError(INTERNAL_MESSAGE, Code.Internal);

/** Marks a RESOURCE_EXHAUSTED that is a request body over the limit (HTTP 413 where statuses speak). */
class RequestTooLarge extends Error {
  override name = "RequestTooLarge";
}

/** The error for a request body over `maxBytes`, on every protocol: RESOURCE_EXHAUSTED (gRPC's convention), HTTP 413. */
export const requestTooLarge = (maxBytes: number) =>
  new ConnectError(`Request body is larger than ${maxBytes} bytes`, Code.ResourceExhausted, undefined, undefined, new RequestTooLarge());

/** The HTTP status of a failure where the status carries it (REST, Connect unary): Connect's mapping, 413 for a body too large. */
export function httpStatusOf(err: ConnectError): number {
  return err.cause instanceof RequestTooLarge ? 413 : codeToHttpStatus(err.code);
}

/** A REST error body, with the original service's fields. */
export const restErrorBody = (err: ConnectError) => ({ success: false, info: err.rawMessage, code: codeToString(err.code) });

/** A Connect protocol error body (the end-of-stream JSON of unary calls). */
export const connectErrorBody = (err: ConnectError) => ({ code: codeToString(err.code), message: err.rawMessage });

/** `grpc-status` and `grpc-message` for a trailers-only gRPC (or gRPC-Web) error answer. */
export function grpcStatusHeaders(err: ConnectError): OutgoingHttpHeaders {
  return { "grpc-status": String(err.code), "grpc-message": encodeGrpcMessage(err.rawMessage) };
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
