import type { OutgoingHttpHeaders } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorReason, refusal } from "../service/error-reasons.js";
import { connectErrorBody, grpcStatusHeaders, restErrorBody } from "./errors.js";

/**
 * The ErrorInfo of errors Connect's own handlers raise before a call reaches
 * the service (a Connect GET whose `message` is not JSON, a compressed gRPC
 * message that does not decompress, a content type no protocol has): Connect
 * sends the code and message only, so the adapter adds the reason the code
 * implies, in each protocol's own place. Errors from the service already
 * carry theirs and pass unchanged.
 */

/** gRPC status fields (headers of a trailers-only answer, or trailers) with `grpc-status-details-bin` added when missing. */
export function grpcWithReason(fields: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const status = fields["grpc-status"];
  if (status === undefined || status === "0" || fields["grpc-status-details-bin"] !== undefined) return fields;
  const code = Number(status) as Code;
  const message = decodeGrpcMessage(String(fields["grpc-message"] ?? ""));
  return { ...fields, "grpc-status-details-bin": grpcStatusHeaders(connectLevelError(message, code))["grpc-status-details-bin"] };
}

/**
 * Codes by their Connect protocol names ("invalid_argument"): the snake case
 * of `Code`'s member names (connect-es's own parser is marked private).
 */
const CODE_OF_NAME = new Map(
  Object.entries(Code)
    .filter((entry): entry is [string, Code] => typeof entry[1] === "number")
    .map(([name, code]) => [name.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "_") + c.toLowerCase()), code]),
);

/** A Connect unary error body (JSON) with the ErrorInfo detail added when it has none; anything else unchanged. */
export function connectErrorWithReason(body: Uint8Array): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return body;
  }
  if (typeof json !== "object" || json === null) return body;
  const { code, message, details } = json as { code?: unknown; message?: unknown; details?: unknown };
  if (details !== undefined || typeof code !== "string") return body;
  const error = connectLevelError(typeof message === "string" ? message : "", CODE_OF_NAME.get(code) ?? Code.Unknown);
  return Buffer.from(JSON.stringify(connectErrorBody(error)));
}

/** The body of Connect's bare 415 (a content type no protocol has), as the REST fallback words an error. */
export function unsupportedMediaTypeBody(contentType: string | undefined): string {
  const message = `Content-Type ${contentType === undefined ? "(none)" : `"${contentType}"`} is not a protocol this path speaks: use application/grpc, application/grpc-web, application/json or application/proto`;
  return JSON.stringify(restErrorBody(refusal(Code.InvalidArgument, ErrorReason.REQUEST_MALFORMED, message)));
}

/**
 * An error Connect raised before the call reached the service: its
 * INVALID_ARGUMENTs are requests it could not read (REQUEST_MALFORMED); other
 * codes take the reason the code implies.
 */
const connectLevelError = (message: string, code: Code): ConnectError =>
  code === Code.InvalidArgument ? refusal(code, ErrorReason.REQUEST_MALFORMED, message) : new ConnectError(message, code);

function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
