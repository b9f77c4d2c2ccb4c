import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type HeaderMap, HeaderValueOption_HeaderAppendAction } from "../../gen/envoy/config/core/v3/base_pb.js";
import type { CheckRequest, CheckResponseSchema } from "../../gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode } from "../../gen/envoy/type/v3/http_status_pb.js";
import type { VerifiedToken } from "../jwt/verifier.js";
import { restErrorBody } from "../server/errors.js";
import { observed } from "../service/observed.js";
import type { CallContext, ServiceObserver } from "../service/types.js";
import type { TokenGate } from "./token-gate.js";
import { tokenHeaders } from "./token-headers.js";
import { bearerChallenge } from "./www-authenticate.js";

type CheckResponseInit = MessageInitShape<typeof CheckResponseSchema>;

/** Options for {@link createExtAuthz}. */
export interface ExtAuthzOptions {
  gate: TokenGate;
  /** Remove `authorization` from requests that pass (EXT_AUTHZ_REMOVE_AUTHORIZATION). */
  removeAuthorization: boolean;
  observer?: ServiceObserver;
}

/** The `envoy.service.auth.v3.Authorization` service's handlers. */
export interface ExtAuthzHandlers {
  check(request: CheckRequest, ctx: CallContext): Promise<CheckResponseInit>;
}

/**
 * Envoy's ext_authz v3 `Authorization/Check` over the {@link TokenGate}:
 * OK with `x-token-subject`/`x-token-jti` for the upstream and the claims as
 * dynamic metadata; UNAUTHENTICATED with a 401 denied response (RFC 6750
 * challenge, the REST routes' JSON body) when the token is missing, invalid,
 * expired or revoked. A store or key source that cannot answer fails the call
 * itself (UNAVAILABLE): Envoy's `failure_mode_allow` then decides, and it
 * fails closed by default.
 */
export function createExtAuthz(options: ExtAuthzOptions): ExtAuthzHandlers {
  return {
    check: observed(options.observer, "Check", async (request: CheckRequest, _ctx, trace) => {
      const http = request.attributes?.request?.http;
      const authorization = http?.headers.authorization ?? headerOf(http?.headerMap, "authorization");
      try {
        return allowed(await options.gate.admitBearer(authorization, trace), options.removeAuthorization);
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.Unauthenticated) return denied(err);
        throw err;
      }
    }),
  };
}

/** A header from the raw header list Envoy sends with `encode_raw_headers` (keys lower-case). */
function headerOf(map: HeaderMap | undefined, name: string): string | undefined {
  const header = map?.headers.find((h) => h.key === name);
  if (header === undefined) return undefined;
  return header.rawValue.length > 0 ? Buffer.from(header.rawValue).toString("latin1") : header.value;
}

const overwrite = (key: string, value: string) => ({
  header: { key, value },
  appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
});

function allowed(verified: VerifiedToken, removeAuthorization: boolean): CheckResponseInit {
  const { set, absent } = tokenHeaders(verified);
  const headers = set.map(([name, value]) => overwrite(name, value));
  const headersToRemove = removeAuthorization ? [...absent, "authorization"] : absent;
  return {
    status: { code: 0 }, // OK
    httpResponse: { case: "okResponse", value: { headers, headersToRemove } },
    dynamicMetadata: { claims: verified.claims as JsonObject, fingerprint: verified.fingerprint },
  };
}

function denied(refusal: ConnectError): CheckResponseInit {
  return {
    status: { code: Code.Unauthenticated, message: refusal.rawMessage },
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: StatusCode.Unauthorized },
        headers: [overwrite("www-authenticate", bearerChallenge(refusal)), overwrite("content-type", "application/json")],
        body: JSON.stringify(restErrorBody(refusal)),
      },
    },
  };
}
