import { FORWARD_AUTH_PATH } from "../../src/gateway/forward-auth.js";
import { INTROSPECT_PATH, REVOKE_PATH } from "../../src/gateway/oauth.js";
import { ALLOW_HEADER, type PathItems, REST_ERROR, TIMEOUT_PARAMETERS } from "./common-components.js";
import { type Schema, schemaRef } from "./proto-schemas.js";

const TAG = "Gateways";

const header = (description: string): Schema => ({ description, schema: { type: "string" } });
/** A JSON error answer whose body is the schema `schema`. */
const jsonError =
  (schema: string) =>
  (description: string, headers: Record<string, Schema> = {}): Schema => ({
    description,
    ...(Object.keys(headers).length === 0 ? {} : { headers }),
    content: { "application/json": { schema: schemaRef(schema) } },
  });
const restError = jsonError(REST_ERROR);
const oauthError = jsonError("OAuthError");

/**
 * The gateways' plain HTTP routes (src/gateway/): forward-auth for proxies
 * (`/auth`) and the OAuth endpoints (RFC 7662 introspection, RFC 7009
 * revocation). Envoy's ext_authz is gRPC and not here.
 */
export function gatewayPaths(): { paths: PathItems; schemas: Record<string, Schema> } {
  const schemas: Record<string, Schema> = {
    OAuthTokenForm: {
      type: "object",
      description: "The form of RFC 7662 and RFC 7009; each parameter at most once.",
      properties: {
        token: { type: "string", description: "The token (a JWT)." },
        token_type_hint: { type: "string", description: "Revocation: `access_token` or absent; other hints are refused." },
      },
      required: ["token"],
    },
    OAuthIntrospection: {
      type: "object",
      description: "RFC 7662: `active` and, for a valid token nobody revoked, its claims and `token_type`.",
      properties: {
        active: { type: "boolean", description: "True for a valid token nobody revoked." },
        token_type: { type: "string", const: "Bearer" },
      },
      required: ["active"],
      additionalProperties: true,
    },
    OAuthError: {
      type: "object",
      description: "RFC 6749 section 5.2.",
      properties: {
        error: { type: "string", description: "`invalid_request`, `invalid_client`, `access_denied`, `unsupported_token_type`, ..." },
        error_description: { type: "string" },
      },
      required: ["error", "error_description"],
    },
  };
  const form = { required: true, content: { "application/x-www-form-urlencoded": { schema: schemaRef("OAuthTokenForm") } } };
  const oauthRefusals = {
    "400": oauthError("The form is malformed, or lacks `token`."),
    "401": oauthError("The client's credentials are missing or wrong.", { "WWW-Authenticate": header("`Basic` challenge.") }),
    "403": oauthError("The OAuth endpoints are off: the server has no OAUTH_CLIENTS."),
    "405": oauthError("A method other than POST (`invalid_request`); `Allow: POST`.", ALLOW_HEADER),
    "500": oauthError("A fault of the server's."),
    "503": oauthError("The revocation store does not answer; retry.", { "Retry-After": header("Seconds.") }),
  };
  const paths: PathItems = {
    [FORWARD_AUTH_PATH]: {
      get: {
        tags: [TAG],
        operationId: "ForwardAuth",
        summary: "Forward-auth for nginx `auth_request`, Traefik `ForwardAuth` and the like.",
        description:
          "Any method is accepted (a body is read and dropped). 200 with no body for a valid token nobody revoked, " +
          "with the headers the upstream receives; 401 with a `WWW-Authenticate` challenge otherwise.",
        parameters: [...TIMEOUT_PARAMETERS],
        security: [{ bearer: [] }],
        responses: {
          "200": {
            description: "The token is valid and not revoked.",
            headers: {
              "X-Token-Subject": header("The token's `sub`, percent-encoded when it is not printable ASCII; absent without `sub`."),
              "X-Token-Jti": header("The token's `jti`, likewise."),
            },
          },
          "400": restError("A malformed deadline header."),
          "401": restError("The token is missing, does not verify, or is revoked.", {
            "WWW-Authenticate": header("RFC 6750 `Bearer` challenge."),
          }),
          "413": restError("The request body is larger than MAX_BODY_BYTES."),
          "500": restError("A fault of the server's."),
          "503": restError("The revocation store or the signing keys do not answer; retry.", { "Retry-After": header("Seconds.") }),
          "504": restError("The call's deadline passed first."),
        },
      },
    },
    [INTROSPECT_PATH]: {
      post: {
        tags: [TAG],
        operationId: "OAuthIntrospect",
        summary: "RFC 7662 token introspection.",
        description: '`{"active": true, ...claims}` for a valid token nobody revoked, `{"active": false}` for any other token.',
        security: [{ oauthClient: [] }],
        requestBody: form,
        responses: {
          "200": { description: "The token's state.", content: { "application/json": { schema: schemaRef("OAuthIntrospection") } } },
          ...oauthRefusals,
        },
      },
    },
    [REVOKE_PATH]: {
      post: {
        tags: [TAG],
        operationId: "OAuthRevoke",
        summary: "RFC 7009 token revocation.",
        description:
          "Revokes the token (token scope; the client's id goes in the audit history). An invalid or unknown token is answered 200 too (RFC 7009 section 2.2).",
        security: [{ oauthClient: [] }],
        requestBody: form,
        responses: { "200": { description: "Revoked, or nothing to revoke. No body." }, ...oauthRefusals },
      },
    },
  };
  return { paths, schemas };
}
