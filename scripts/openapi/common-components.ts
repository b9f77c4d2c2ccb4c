import { Code } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { ErrorReasonSchema } from "../../gen/tokens/v1/error_reason_pb.js";
import { type ProtoSchemas, type Schema, schemaRef } from "./proto-schemas.js";

/** OpenAPI path items by path, operations by lower-case method. */
export type PathItems = Record<string, Record<string, Schema>>;

/** The REST error body's component name. */
export const REST_ERROR = "RestError";

const responseRef = (name: string): Schema => ({ $ref: `#/components/responses/${name}` });
const parameterRef = (name: string): Schema => ({ $ref: `#/components/parameters/${name}` });
const headerRef = (name: string): Schema => ({ $ref: `#/components/headers/${name}` });

/** The deadline headers every call honours, REST included. */
export const TIMEOUT_PARAMETERS: readonly Schema[] = [parameterRef("GrpcTimeout"), parameterRef("ConnectTimeoutMs")];

/** The request headers every operation takes: the request id and the W3C trace context. */
const EVERY_OPERATION_PARAMETERS: readonly Schema[] = [parameterRef("RequestId"), parameterRef("Traceparent"), parameterRef("Tracestate")];

/** The `Allow` header of a 405, for the responses that answer a method the path does not take. */
export const ALLOW_HEADER: Record<string, Schema> = { Allow: headerRef("Allow") };

/** A request id: what src/server/request-id.ts keeps of a caller's `x-request-id` (1 to 128 visible ASCII characters), and what it makes. */
const REQUEST_ID_SCHEMA: Schema = { type: "string", pattern: "^[!-~]{1,128}$" };

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);

/** A response object with the `x-request-id` header every response carries (a reference is left as it is: its component has it). */
const withRequestId = (response: Schema): Schema =>
  "$ref" in response
    ? response
    : { ...response, headers: { ...(response.headers as Record<string, Schema> | undefined), "X-Request-Id": headerRef("RequestId") } };

/**
 * The paths with what holds for every operation, whichever part of the
 * document wrote it: it takes the request-id and trace-context headers, and
 * each of its answers carries `x-request-id` (src/server/h1-exchange.ts and
 * h2-exchange.ts add it to every response). Added here, so no route misses them.
 */
export function everyOperation(paths: PathItems): PathItems {
  const operation = (op: Schema): Schema => {
    const parameters = [...((op.parameters as Schema[] | undefined) ?? []), ...EVERY_OPERATION_PARAMETERS];
    const responses = Object.entries(op.responses as Record<string, Schema>).map(([status, r]) => [status, withRequestId(r)]);
    const out: Schema = {};
    for (const [key, value] of Object.entries(op)) {
      // The parameters where the operation had them, else before its body and answers: one key order for all.
      if ((key === "requestBody" || key === "responses") && !("parameters" in out)) out.parameters = parameters;
      out[key] = key === "parameters" ? parameters : key === "responses" ? Object.fromEntries(responses) : value;
    }
    return out;
  };
  return Object.fromEntries(
    Object.entries(paths).map(([path, item]) => [
      path,
      Object.fromEntries(Object.entries(item).map(([method, op]) => [method, HTTP_METHODS.has(method) ? operation(op) : op])),
    ]),
  );
}

/** The refusals a REST route may answer, by status; 401 and 403 only where the call takes a token or the operator key. */
export function errorResponses(options: { unauthenticated: boolean; permissionDenied: boolean }): Record<string, Schema> {
  return {
    "400": responseRef("InvalidArgument"),
    ...(options.unauthenticated ? { "401": responseRef("Unauthenticated") } : {}),
    ...(options.permissionDenied ? { "403": responseRef("PermissionDenied") } : {}),
    "405": responseRef("MethodNotAllowed"),
    "413": responseRef("RequestTooLarge"),
    "500": responseRef("Internal"),
    "503": responseRef("Unavailable"),
    "504": responseRef("DeadlineExceeded"),
  };
}

/**
 * The components every part of the document shares: the REST error body, its
 * responses, the request headers (deadlines, request id, trace context), the
 * response headers, the credentials.
 */
export function commonComponents(schemas: ProtoSchemas): { schemas: Record<string, Schema>; rest: Record<string, Record<string, Schema>> } {
  const codes = Object.values(Code)
    .filter((code): code is Code => typeof code === "number")
    .sort((a, b) => a - b)
    .map((code) => codeToString(code));
  const restError: Schema = {
    type: "object",
    description:
      "Every REST refusal: the original service's `success` and `info`, the Connect code, and the machine-readable reason. " +
      "The HTTP status is Connect's for the code (413 for a body over the limit). Branch on `reason`, never on `info`.",
    properties: {
      success: { type: "boolean", const: false, description: "Always false on an error." },
      info: { type: "string", description: "What was wrong and what to do, for people; it may change." },
      code: { type: "string", enum: codes, description: "The status code, as the Connect protocol writes it." },
      reason: {
        ...schemas.enumRef(ErrorReasonSchema, ["ERROR_REASON_UNSPECIFIED"]),
        description: "Which refusal it is (`tokens.v1.ErrorReason`).",
      },
      metadata: {
        type: "object",
        additionalProperties: { type: "string" },
        description: "The reason's details (TOKEN_REVOKED: `scope`, and `issued_before` for a subject); absent when there are none.",
      },
    },
    required: ["success", "info", "code", "reason"],
  };
  const refusal = (description: string, headers: Record<string, Schema> = {}): Schema =>
    withRequestId({ description, headers, content: { "application/json": { schema: schemaRef(REST_ERROR) } } });
  const timeout = (name: string, pattern: string, description: string): Schema => ({
    name,
    in: "header",
    required: false,
    description,
    schema: { type: "string", pattern },
  });
  return {
    schemas: { [REST_ERROR]: restError },
    rest: {
      responses: {
        InvalidArgument: refusal("INVALID_ARGUMENT: the request is malformed or a field's value is not acceptable."),
        Unauthenticated: refusal("UNAUTHENTICATED: the bearer token is missing, does not verify, or is revoked."),
        PermissionDenied: refusal("PERMISSION_DENIED: an operator action without the right `x-admin-key`."),
        MethodNotAllowed: refusal(
          "UNIMPLEMENTED (`METHOD_NOT_FOUND`): the path takes other methods than the request's (HEAD included); `Allow` lists them.",
          ALLOW_HEADER,
        ),
        RequestTooLarge: refusal("RESOURCE_EXHAUSTED: the request body is larger than MAX_BODY_BYTES."),
        Internal: refusal("INTERNAL: a fault of the server's; its log has the details."),
        Unavailable: refusal("UNAVAILABLE: the revocation store or the signing keys do not answer; nothing was answered unchecked. Retry."),
        DeadlineExceeded: refusal("DEADLINE_EXCEEDED: the call's deadline passed before it finished."),
      },
      parameters: {
        GrpcTimeout: timeout(
          "grpc-timeout",
          "^[0-9]{1,8}[HMSmun]$",
          "The call's deadline, gRPC's way: up to 8 digits and a unit (`100m`, `5S`).",
        ),
        ConnectTimeoutMs: timeout(
          "connect-timeout-ms",
          "^[0-9]{1,10}$",
          "The call's deadline in milliseconds, the Connect protocol's way.",
        ),
        RequestId: {
          name: "x-request-id",
          in: "header",
          required: false,
          description:
            "The call's id, for its log line and trace: kept when it is 1 to 128 visible ASCII characters (`!` to `~`), " +
            "otherwise replaced by a new one (16 base64url characters), never refused. The response's `x-request-id` says which.",
          schema: REQUEST_ID_SCHEMA,
        },
        Traceparent: {
          name: "traceparent",
          in: "header",
          required: false,
          description:
            "W3C Trace Context: the caller's trace, which the call's server span continues when tracing is on (the OTEL_* variables); " +
            "one that does not parse starts a new trace. The probes, /metrics and /openapi.json start no span.",
          schema: { type: "string", pattern: "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$" },
        },
        Tracestate: {
          name: "tracestate",
          in: "header",
          required: false,
          description: "W3C Trace Context: the vendors' entries (`key=value`, comma-separated), carried on with a valid `traceparent`.",
          schema: { type: "string" },
        },
      },
      headers: {
        RequestId: {
          description:
            "The call's id, on every response whatever the route and status: the request's `x-request-id` when it was " +
            "1 to 128 visible ASCII characters, otherwise a new one. The call's log line and span carry it too.",
          required: true,
          schema: REQUEST_ID_SCHEMA,
        },
        Allow: {
          description: "The methods the path takes, comma-separated (`GET, DELETE`).",
          required: true,
          schema: { type: "string" },
        },
      },
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "The token to act on, as `Authorization: Bearer <jwt>` (the scheme word is case-insensitive).",
        },
        adminKey: {
          type: "apiKey",
          in: "header",
          name: "x-admin-key",
          description: "The operator key: the server's ADMIN_KEY. Operator actions answer 403 without it.",
        },
        oauthClient: {
          type: "http",
          scheme: "basic",
          description: "An OAuth client of OAUTH_CLIENTS (`client_id:secret`), as RFC 6749 section 2.3.1 says.",
        },
      },
    },
  };
}
