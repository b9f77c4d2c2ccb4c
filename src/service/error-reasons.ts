import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { ErrorReason } from "../../gen/tokens/v1/error_reason_pb.js";
import type { TokenRejected } from "../jwt/token-rejected.js";

export { ErrorReason };

/** A detail as ConnectError's constructor takes it (the type is not exported). */
type OutgoingDetail = NonNullable<ConstructorParameters<typeof ConnectError>[3]>[number];

/** `ErrorInfo.domain` of every reason this service sends. */
export const ERROR_DOMAIN = "tokens.v1";

/** A `google.rpc.ErrorInfo`'s fields, as a plain object: what the transports encode, without reflection. */
export type ReasonInfo = {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
};

/**
 * A refusal: a ConnectError carrying a `google.rpc.ErrorInfo` detail with
 * `reason` (the {@link ErrorReason}, or its name as another server sent it)
 * and `metadata`. Every protocol sends the detail (see src/server/errors.ts
 * and Connect's own handlers).
 */
export function refusal(
  code: Code,
  reason: ErrorReason | string,
  message: string,
  metadata?: Record<string, string>,
  cause?: unknown,
): ConnectError {
  const name = typeof reason === "string" ? reason : ErrorReason[reason];
  const info: ReasonInfo = { reason: name, domain: ERROR_DOMAIN, metadata: metadata ?? {} };
  return new ConnectError(message, code, undefined, [{ desc: ErrorInfoSchema, value: info }], cause);
}

/**
 * A verifier's rejection as a refusal (UNAUTHENTICATED for a bearer token;
 * INVALID_ARGUMENT for a token named in a field, with `prefix` naming it). The
 * verifier's reasons are the enum's names; the rejection stays as the cause.
 */
export const tokenRefused = (rejected: TokenRejected, code = Code.Unauthenticated, prefix = ""): ConnectError =>
  refusal(code, ErrorReason[rejected.reason], prefix + rejected.message, undefined, rejected);

/** The signing keys (JWKS) could not be fetched. */
export const keysUnavailable = (): ConnectError =>
  refusal(Code.Unavailable, ErrorReason.KEYS_UNAVAILABLE, "Signing keys are unavailable; retry later");

/** The reason of an error made without one (by a library, or a path with nothing more specific to say), by its code. */
const REASON_OF_CODE: Partial<Record<Code, ErrorReason>> = {
  [Code.Canceled]: ErrorReason.CANCELLED,
  [Code.InvalidArgument]: ErrorReason.ARGUMENT_INVALID,
  [Code.DeadlineExceeded]: ErrorReason.DEADLINE_EXCEEDED,
  [Code.NotFound]: ErrorReason.NOT_FOUND,
  [Code.PermissionDenied]: ErrorReason.ACCESS_DENIED,
  [Code.ResourceExhausted]: ErrorReason.REQUEST_TOO_LARGE,
  [Code.Unimplemented]: ErrorReason.METHOD_NOT_FOUND,
  [Code.Unavailable]: ErrorReason.SERVICE_UNAVAILABLE,
  [Code.Unauthenticated]: ErrorReason.ACCESS_DENIED,
};

/**
 * The ErrorInfo an error carries, or the one its code implies. A refusal's own
 * detail is read as it was made (no message is built: this runs on every
 * refused call); one decoded from the wire is decoded.
 */
export function errorInfoOf(err: ConnectError): ReasonInfo {
  for (const detail of err.details) {
    if ("desc" in detail) {
      if (detail.desc.typeName !== ErrorInfoSchema.typeName) continue;
      const value = detail.value as Partial<ReasonInfo>;
      return { reason: value.reason ?? "", domain: value.domain ?? "", metadata: value.metadata ?? {} };
    }
    if (detail.type === ErrorInfoSchema.typeName) {
      const { reason, domain, metadata } = fromBinary(ErrorInfoSchema, detail.value);
      return { reason, domain, metadata };
    }
  }
  return { reason: ErrorReason[REASON_OF_CODE[err.code] ?? ErrorReason.INTERNAL], domain: ERROR_DOMAIN, metadata: {} };
}

/** `err` if it carries an ErrorInfo, else the same error with the one its code implies (for Connect's own handlers to send). */
export function withErrorInfo(err: ConnectError): ConnectError {
  for (const detail of err.details) {
    if (("desc" in detail ? detail.desc.typeName : detail.type) === ErrorInfoSchema.typeName) return err;
  }
  const outgoing = err.details.filter((detail): detail is OutgoingDetail => "desc" in detail);
  return new ConnectError(
    err.rawMessage,
    err.code,
    err.metadata,
    [...outgoing, { desc: ErrorInfoSchema, value: errorInfoOf(err) }],
    err.cause,
  );
}
