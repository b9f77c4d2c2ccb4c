import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../gen/tokens/v1/token_service_pb.js";
import { buildOpenApiDocument } from "../scripts/openapi/build-document.js";
import { serializeOpenApi } from "../scripts/openapi/serialize.js";
import { restRoutes } from "../src/server/rest-routes.js";
import { type Schema, schemaViolations } from "./helpers/json-schema-check.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

/**
 * openapi/openapi.json: fresh (what scripts/generate-openapi.ts writes now),
 * valid OpenAPI 3.1 by a maintained validator, and true of a live server:
 * every documented operation answers with a status it lists, its answer
 * matches the documented schema, and every REST route the server derives
 * from the annotations is documented.
 */
const root = fileURLToPath(new URL("..", import.meta.url));
const committedText = readFileSync(new URL("../openapi/openapi.json", import.meta.url), "utf8");
const doc = JSON.parse(committedText) as Schema & { paths: Record<string, Record<string, Operation>> };

/**
 * Whether error bodies are checked against RestError, which requires `reason`
 * (issue 16's typed reasons, now in REST errors); false checks only their
 * status and content type.
 */
const CHECK_ERROR_BODIES = true;

interface Operation {
  operationId: string;
  parameters?: Array<Schema>;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: Schema }> }>;
  security?: Array<Record<string, string[]>>;
}

const METHODS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const operations = Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => METHODS.has(method))
    .map(([method, op]) => ({ path, method, op })),
);

/** A `#/...` reference within the document. */
function resolve(ref: string): Schema {
  if (!ref.startsWith("#/")) throw new Error(`not a local reference: ${ref}`);
  let node: unknown = doc;
  for (const part of ref.slice(2).split("/")) node = (node as Record<string, unknown>)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  if (node === undefined) throw new Error(`${ref} resolves to nothing`);
  return node as Schema;
}

/** The response object for a status, references followed. */
function responseFor(op: Operation, status: number): { content?: Record<string, { schema: Schema }> } {
  const response = op.responses[String(status)];
  expect(response, `${op.operationId} answered ${status}, which the document does not list`).toBeDefined();
  return response!.$ref === undefined ? response! : (resolve(response!.$ref) as { content?: Record<string, { schema: Schema }> });
}

describe("openapi/openapi.json", () => {
  it("is what scripts/generate-openapi.ts writes from gen/ and proto/ now", () => {
    expect(committedText).toBe(serializeOpenApi(buildOpenApiDocument(root)));
  });

  it("is valid OpenAPI 3.1 (@apidevtools/swagger-parser)", async () => {
    expect(doc.openapi).toBe("3.1.0");
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
    // The validator does reject a broken document: the check can fail.
    const broken = structuredClone(doc);
    broken.paths["/info"]!.get!.parameters = [{ name: "x", in: "nowhere", schema: { type: "string" } }];
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow();
  });

  it("documents every REST route the server derives from the annotations, and no other", () => {
    const routes = restRoutes(TokenService);
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) {
      const path = route.template.replace(/\{([^}=]+)(=\*)?\}/g, "{$1}");
      const op = doc.paths[path]?.[route.httpMethod.toLowerCase()];
      expect(op, `${route.httpMethod} ${route.template}`).toBeDefined();
      expect(op!.operationId).toBe(route.method.name);
      const pathParams = (op!.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
      expect(pathParams.sort()).toEqual(route.segments.flatMap((s) => (typeof s === "string" ? [] : [s.field])).sort());
    }
    const documented = operations.filter(({ op }) => (op as { tags?: string[] }).tags?.includes(TokenService.name));
    expect(documented.map(({ op }) => op.operationId).sort()).toEqual(routes.map((r) => r.method.name).sort());
  });
});

describe("the document against a live server", () => {
  const client = { id: "openapi-client", secret: "openapi-client-secret" };
  let service: TestService;
  beforeAll(async () => {
    service = await startService({ OAUTH_CLIENTS: `${client.id}:${client.secret}` });
  });
  afterAll(async () => {
    await service.close();
  });

  /** A request for the operation with every credential its security names, so it succeeds. */
  function request(path: string, method: string, op: Operation, credentials: boolean): { url: string; init: RequestInit } {
    const token = mint({ sub: `openapi-${crypto.randomUUID()}` });
    const url = path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(`openapi-${name}`));
    const headers: Record<string, string> = {};
    const schemes = new Set((op.security ?? []).flatMap((requirement) => Object.keys(requirement)));
    if (credentials && schemes.has("bearer")) headers.authorization = `Bearer ${token}`;
    if (credentials && schemes.has("adminKey")) headers["x-admin-key"] = ADMIN_KEY;
    if (credentials && schemes.has("oauthClient")) headers.authorization = `Basic ${btoa(`${client.id}:${client.secret}`)}`;
    let body: string | undefined;
    const content = op.requestBody?.content ?? {};
    if ("application/json" in content) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(op.operationId === "InspectToken" ? { token } : {});
    } else if ("application/x-www-form-urlencoded" in content) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      body = new URLSearchParams({ token }).toString();
    }
    return { url: service.baseUrl + url, init: { method: method.toUpperCase(), headers, ...(body === undefined ? {} : { body }) } };
  }

  /** Checks an answer's content type and body against what the document says of its status. */
  async function checkAnswer(op: Operation, method: string, res: Response, checkBody: boolean): Promise<void> {
    const response = responseFor(op, res.status);
    const text = await res.text();
    if (method === "head" || response.content === undefined) {
      expect(text, `${op.operationId}: no body`).toBe("");
      return;
    }
    const [mediaType, media] = Object.entries(response.content)[0]!;
    expect(res.headers.get("content-type")?.split(";")[0], op.operationId).toBe(mediaType);
    if (mediaType !== "application/json" || !checkBody) return;
    expect(schemaViolations(JSON.parse(text), media.schema, resolve), `${op.operationId} ${res.status}: ${text}`).toEqual([]);
  }

  // History runs last, so the changes the others made give it events to check.
  const ordered = [...operations].sort((a, b) => Number(a.op.operationId === "History") - Number(b.op.operationId === "History"));

  it.each(ordered.map((o) => [`${o.method.toUpperCase()} ${o.path}`, o] as const))(
    "%s answers 200 with the documented body",
    async (_name, { path, method, op }) => {
      const { url, init } = request(path, method, op, true);
      const res = await fetch(url, init);
      expect(res.status, `${op.operationId}: ${res.status}`).toBe(200);
      await checkAnswer(op, method, res, true);
    },
  );

  it("History's page has events to check (the operations above made them)", async () => {
    const res = await fetch(`${service.baseUrl}/history`, { headers: { "x-admin-key": ADMIN_KEY } });
    expect(((await res.json()) as { events: unknown[] }).events.length).toBeGreaterThan(0);
  });

  const secured = operations.filter(({ op }) => (op.security ?? []).length > 0);
  it.each(secured.map((o) => [`${o.method.toUpperCase()} ${o.path}`, o] as const))(
    "%s without credentials answers the documented refusal",
    async (_name, { path, method, op }) => {
      const { url, init } = request(path, method, op, false);
      const res = await fetch(url, init);
      // Without any credential: 403 where every alternative needs the operator key, 401 where one takes a token alone.
      const operatorOnly = op.security!.every((requirement) => "adminKey" in requirement);
      expect(res.status, op.operationId).toBe(operatorOnly ? 403 : 401);
      await checkAnswer(op, method, res, CHECK_ERROR_BODIES || op.operationId.startsWith("OAuth"));
    },
  );

  it("GET /openapi.json is the committed document; HEAD has its headers and no body", async () => {
    const res = await fetch(`${service.baseUrl}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.text()).toBe(committedText);
    const head = await fetch(`${service.baseUrl}/openapi.json`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("application/json");
    expect(head.headers.get("content-length")).toBe(String(Buffer.byteLength(committedText)));
    expect(await head.text()).toBe("");
  });

  it("the body check can fail: it reports a missing field, an undocumented one and a wrong value", () => {
    const restError = resolve("#/components/schemas/RestError");
    const good = { success: false, info: "no", code: "unauthenticated", reason: "TOKEN_MISSING" };
    expect(schemaViolations(good, restError, resolve)).toEqual([]);
    const { reason: _reason, ...withoutReason } = good;
    expect(schemaViolations(withoutReason, restError, resolve)).toEqual(['$: lacks "reason"']);
    expect(schemaViolations({ ...good, extra: 1 }, restError, resolve)).toEqual(['$: "extra" is not documented']);
    expect(schemaViolations({ ...good, reason: "NOT_A_REASON" }, restError, resolve)).toHaveLength(1);
    const revocation = resolve("#/components/schemas/tokens.v1.Revocation");
    expect(
      schemaViolations(
        { scope: "REVOCATION_SCOPE_JTI", issuer: "", jti: "", subject: "", revoked: true, issued_before: "yesterday" },
        revocation,
        resolve,
      ),
    ).toEqual(['$.issued_before: "yesterday" is not a date-time']);
  });

  it("an undocumented path is not found: the live checks above can fail", async () => {
    const res = await fetch(`${service.baseUrl}/not-documented`);
    expect(res.status).toBe(404);
    expect(doc.paths["/not-documented"]).toBeUndefined();
  });
});
