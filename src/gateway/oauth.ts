import { Code, ConnectError } from "@connectrpc/connect";
import { TokenRejected } from "../jwt/token-rejected.js";
import type { VerifiedToken } from "../jwt/verifier.js";
import type { Route } from "../server/dispatcher.js";
import { httpStatusOf, requestTooLarge } from "../server/errors.js";
import type { Exchange } from "../server/exchange.js";
import { runUnary } from "../server/unary-call.js";
import { createAdminKeyCheck } from "../service/admin-key.js";
import { observed } from "../service/observed.js";
import { storeCall, tokenEntryId } from "../service/store-calls.js";
import type { CallContext, TokenServiceDeps } from "../service/types.js";
import type { TokenGate } from "./token-gate.js";

/** Options for {@link createOAuthRoutes}. */
export interface OAuthOptions {
  gate: TokenGate;
  deps: Pick<TokenServiceDeps, "verifier" | "store" | "observer" | "maxTokenBytes">;
  /** client_id -> secret (OAUTH_CLIENTS); empty: the endpoints answer 403. */
  clients: ReadonlyMap<string, string>;
  readMaxBytes: number;
  onInternalError: (err: unknown) => void;
}

export const INTROSPECT_PATH = "/oauth2/introspect";
export const REVOKE_PATH = "/oauth2/revoke";

/** An HTTP answer, as the handlers build it. */
interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: object;
}

const CODE_OF_STATUS: Record<number, Code> = { 400: Code.InvalidArgument, 401: Code.Unauthenticated, 403: Code.PermissionDenied };

/** A request the client got wrong, in RFC 6749 section 5.2 terms: the cause of the ConnectError it travels in. */
class OAuthProblem {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {}
}

/**
 * The ConnectError for an OAuth problem (logs and metrics see its code). Not
 * a subclass: ConnectError's `instanceof` does not recognise subclasses.
 */
function oauthError(status: number, error: string, description: string, headers: Record<string, string> = {}): ConnectError {
  const problem = new OAuthProblem(status, error, description, headers);
  return new ConnectError(description, CODE_OF_STATUS[status] ?? Code.InvalidArgument, undefined, undefined, problem);
}

const FORM_TYPE = /^application\/x-www-form-urlencoded\s*(;|$)/i;
const RESPONSE_HEADERS = { "content-type": "application/json", "cache-control": "no-store", pragma: "no-cache" };

/**
 * RFC 7662 token introspection (`POST /oauth2/introspect`) and RFC 7009 token
 * revocation (`POST /oauth2/revoke`), form-encoded, for OAuth clients named in
 * OAUTH_CLIENTS, who authenticate with HTTP Basic (RFC 6749 section 2.3.1;
 * secrets compared in constant time). Introspection answers
 * `{"active": true, ...claims}` for a valid token nobody revoked and
 * `{"active": false}` for anything else; revocation revokes the token (token
 * scope, the client's id in the audit history) and answers 200 for an invalid
 * or unknown token too (RFC 7009 section 2.2). A store that cannot answer is
 * 503 with `Retry-After`, never an answer it could not check.
 */
export function createOAuthRoutes(options: OAuthOptions): Route {
  const checks = new Map([...options.clients].map(([id, secret]) => [id, createAdminKeyCheck(secret)]));
  // Unknown client ids are compared against this, so timing does not tell known ids apart.
  const unknownClient = createAdminKeyCheck(crypto.randomUUID());

  /** The client_id the Basic credentials prove, or an invalid_client error. */
  const authenticate = (ctx: CallContext): string => {
    if (checks.size === 0) {
      throw oauthError(403, "access_denied", "The OAuth endpoints are disabled: set OAUTH_CLIENTS=client_id:secret on the server");
    }
    const invalid = (why: string) => oauthError(401, "invalid_client", why, { "www-authenticate": 'Basic realm="token-blacklist"' });
    const header = ctx.requestHeader.get("authorization");
    const match = header === null ? null : /^basic +([A-Za-z0-9+/]+={0,2})$/i.exec(header.trim());
    if (match === null) throw invalid("Authenticate with HTTP Basic: client_id and secret from OAUTH_CLIENTS");
    const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    let id: string;
    let secret: string;
    try {
      // RFC 6749 2.3.1: both are form-urlencoded before they are joined.
      id = decodeURIComponent(decoded.slice(0, Math.max(0, colon)).replace(/\+/g, " "));
      secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "));
    } catch {
      throw invalid("Malformed Basic credentials");
    }
    const check = checks.get(id);
    const ok = check === undefined ? unknownClient(secret) && false : check(secret);
    if (colon < 0 || !ok) throw invalid("Unknown client or wrong secret");
    return id;
  };

  const introspect = observed(options.deps.observer, "OAuthIntrospect", async (form: URLSearchParams, ctx, trace): Promise<Answer> => {
    authenticate(ctx);
    const token = requiredToken(form);
    try {
      const verified = await options.gate.admitToken(token, trace);
      return { status: 200, body: { ...verified.claims, token_type: "Bearer", active: true } };
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.Unauthenticated) return { status: 200, body: { active: false } };
      throw err;
    }
  });

  const revoke = observed(options.deps.observer, "OAuthRevoke", async (form: URLSearchParams, ctx, trace): Promise<Answer> => {
    const clientId = authenticate(ctx);
    const token = requiredToken(form);
    const hint = form.get("token_type_hint");
    if (hint !== null && hint !== "access_token") {
      throw oauthError(400, "unsupported_token_type", `This server revokes JWT access tokens only, not ${JSON.stringify(hint)}`);
    }
    let verified: VerifiedToken;
    try {
      verified = await options.deps.verifier(token.length > options.deps.maxTokenBytes ? "" : token.trim());
    } catch (err) {
      if (err instanceof TokenRejected) return { status: 200 }; // RFC 7009 2.2: an invalid token is no error
      throw err;
    }
    trace.fingerprint = verified.fingerprint;
    const fp = verified.fingerprint;
    const result = await storeCall(
      options.deps.observer,
      "revoke",
      fp,
      () =>
        options.deps.store.revoke(tokenEntryId(verified), {
          actor: "client",
          clientId,
          reason: "",
          expiresAtMs: verified.revocationExpiresAtMs,
          context: { jti: verified.jti, subject: verified.subject },
        }),
      ctx.signal,
    );
    if (result.event !== undefined) options.deps.observer?.changed(result.event);
    return { status: 200 };
  });

  const serve = async (exchange: Exchange, handler: (form: URLSearchParams, ctx: CallContext) => Promise<Answer>) => {
    const outcome = await runUnary(exchange, {
      handler: handler as (request: unknown, ctx: CallContext) => Promise<unknown>,
      protocol: "oauth",
      decode: async () => readForm(exchange, options.readMaxBytes),
      onInternalError: options.onInternalError,
    });
    const answer = outcome.error === undefined ? (outcome.response as unknown as Answer) : answerOf(outcome.error);
    const headers = { ...RESPONSE_HEADERS, ...answer.headers };
    if (answer.body === undefined) exchange.respond(answer.status, { ...headers, "content-length": "0" });
    else exchange.respond(answer.status, headers, JSON.stringify(answer.body));
  };

  return (exchange) => {
    const target = exchange.target;
    const path = target.includes("?") ? target.slice(0, target.indexOf("?")) : target;
    const handler = path === INTROSPECT_PATH ? introspect : path === REVOKE_PATH ? revoke : undefined;
    if (handler === undefined) return false;
    if (exchange.method !== "POST") {
      void exchange.readBody(0, () => new Error("unread")).catch(() => {});
      const body = JSON.stringify({ error: "invalid_request", error_description: `${path} takes POST` });
      exchange.respond(405, { ...RESPONSE_HEADERS, allow: "POST" }, body);
      return true;
    }
    void serve(exchange, handler);
    return true;
  };
}

/** Reads and parses the form body; anything but one well-formed form is an invalid_request error. */
async function readForm(exchange: Exchange, maxBytes: number): Promise<URLSearchParams> {
  const contentType = exchange.headers["content-type"];
  if (contentType === undefined || !FORM_TYPE.test(contentType)) {
    void exchange.readBody(0, () => new Error("unread")).catch(() => {});
    throw oauthError(400, "invalid_request", "Send the parameters as application/x-www-form-urlencoded");
  }
  const body = (await exchange.readBody(maxBytes, () => requestTooLarge(maxBytes))).toString("utf8");
  const form = new URLSearchParams();
  for (const pair of body === "" ? [] : body.split("&")) {
    const eq = pair.indexOf("=");
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replace(/\+/g, " "));
      value = decodeURIComponent((eq < 0 ? "" : pair.slice(eq + 1)).replace(/\+/g, " "));
    } catch {
      throw oauthError(400, "invalid_request", "The form is not well-formed (bad percent-encoding)");
    }
    // RFC 6749 3.1: a parameter must not be sent more than once.
    if (form.has(name)) throw oauthError(400, "invalid_request", `Parameter ${JSON.stringify(name)} is repeated`);
    form.set(name, value);
  }
  return form;
}

function requiredToken(form: URLSearchParams): string {
  const token = form.get("token");
  if (token === null || token === "") throw oauthError(400, "invalid_request", "The token parameter is required");
  return token;
}

/** A failed call as an OAuth error answer. */
function answerOf(error: ConnectError): Answer {
  const problem = error.cause;
  if (problem instanceof OAuthProblem) {
    return { status: problem.status, headers: problem.headers, body: { error: problem.error, error_description: problem.description } };
  }
  if (error.code === Code.Unavailable) {
    return {
      status: 503,
      headers: { "retry-after": "1" },
      body: { error: "temporarily_unavailable", error_description: error.rawMessage },
    };
  }
  // RFC 6749 5.2: a request the client got wrong is 400, an oversized form included.
  const status = httpStatusOf(error) === 413 ? 400 : httpStatusOf(error);
  return { status, body: { error: status < 500 ? "invalid_request" : "server_error", error_description: error.rawMessage } };
}
