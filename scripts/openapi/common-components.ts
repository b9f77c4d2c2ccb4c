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

/** The deadline headers every call honours, REST included. */
export const TIMEOUT_PARAMETERS: readonly Schema[] = [parameterRef("GrpcTimeout"), parameterRef("ConnectTimeoutMs")];

/** The refusals a REST route may answer, by status; 401 and 403 only where the call takes a token or the operator key. */
export function errorResponses(options: { unauthenticated: boolean; permissionDenied: boolean }): Record<string, Schema> {
  return {
    "400": responseRef("InvalidArgument"),
    ...(options.unauthenticated ? { "401": responseRef("Unauthenticated") } : {}),
    ...(options.permissionDenied ? { "403": responseRef("PermissionDenied") } : {}),
    "413": responseRef("RequestTooLarge"),
    "500": responseRef("Internal"),
    "503": responseRef("Unavailable"),
    "504": responseRef("DeadlineExceeded"),
  };
}

/** The components every part of the document shares: the REST error body, its responses, the deadline headers, the credentials. */
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
  const refusal = (description: string): Schema => ({ description, content: { "application/json": { schema: schemaRef(REST_ERROR) } } });
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
        RequestTooLarge: refusal("RESOURCE_EXHAUSTED: the request body is larger than MAX_REQUEST_BYTES."),
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
