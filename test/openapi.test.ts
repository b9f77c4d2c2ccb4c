import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenService } from "../gen/tokens/v1/token_service_pb.js";
import { buildOpenApiDocument } from "../scripts/openapi/build-document.js";
import { serializeOpenApi } from "../scripts/openapi/serialize.js";
import { restRoutes } from "../src/server/rest-routes.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

/**
 * openapi/openapi.json: fresh (what scripts/generate-openapi.ts writes now),
 * valid OpenAPI 3.1 by a maintained validator, and true of a live server:
 * every documented operation answers with a status it lists, its answer
 * matches the documented schema (by Ajv) and carries the documented headers,
 * and every REST route the server derives from the annotations is documented.
 */
const root = fileURLToPath(new URL("..", import.meta.url));
const committedText = readFileSync(new URL("../openapi/openapi.json", import.meta.url), "utf8");
const doc = JSON.parse(committedText) as Schema & {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
};

/** A JSON Schema, as the OpenAPI document holds it. */
type Schema = { [keyword: string]: unknown };

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
  responses: Record<string, ResponseObject & { $ref?: string }>;
  security?: Array<Record<string, string[]>>;
}

interface ResponseObject {
  content?: Record<string, { schema: Schema }>;
  headers?: Record<string, { $ref?: string; required?: boolean; schema?: Schema }>;
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
function responseFor(op: Operation, status: number): ResponseObject {
  const response = op.responses[String(status)];
  expect(response, `${op.operationId} answered ${status}, which the document does not list`).toBeDefined();
  return response!.$ref === undefined ? response! : (resolve(response!.$ref) as ResponseObject);
}

/**
 * Answers are checked by Ajv in JSON Schema 2020-12, OpenAPI 3.1's dialect.
 * The document's schemas become the `$defs` of one schema resource, and its
 * references (`#/components/schemas/X`) point there: the document as a whole
 * is no JSON Schema (strict mode refuses `paths`, `info`... as keywords).
 * Strict mode also refuses any keyword Ajv does not know, so no constraint is
 * skipped silently. One rule is the test's, not the document's: an object
 * schema that lists `properties` and says nothing of other keys admits none
 * (`unevaluatedProperties: false`), so every field an answer carries must be
 * documented, while clients stay free to accept fields added later.
 */
const COMPONENTS_ID = "urn:token-blacklist:openapi:components";
const COMPONENT_REF = "#/components/schemas/";
const SCHEMA_MAPS = new Set(["properties", "patternProperties", "dependentSchemas", "$defs"]);
const SCHEMA_LISTS = new Set(["allOf", "anyOf", "oneOf", "prefixItems"]);
const SUBSCHEMAS = new Set([
  ...["additionalProperties", "unevaluatedProperties", "propertyNames", "items", "unevaluatedItems", "contains"],
  ...["not", "if", "then", "else", "contentSchema"],
]);

/** The schema as the test's Ajv takes it: references into the components made absolute, objects closed. */
function forAjv(schema: Schema): Schema {
  const out: Schema = {};
  for (const [keyword, arg] of Object.entries(schema)) {
    if (keyword === "$ref" && typeof arg === "string" && arg.startsWith(COMPONENT_REF)) {
      out.$ref = `${COMPONENTS_ID}#/$defs/${arg.slice(COMPONENT_REF.length)}`;
    } else if (SCHEMA_MAPS.has(keyword)) {
      out[keyword] = Object.fromEntries(Object.entries(arg as Record<string, Schema>).map(([key, sub]) => [key, forAjv(sub)]));
    } else if (SCHEMA_LISTS.has(keyword)) {
      out[keyword] = (arg as Schema[]).map(forAjv);
    } else if (SUBSCHEMAS.has(keyword) && typeof arg === "object" && arg !== null) {
      out[keyword] = forAjv(arg as Schema);
    } else {
      out[keyword] = arg;
    }
  }
  if ("properties" in schema && !("additionalProperties" in schema) && !("unevaluatedProperties" in schema))
    out.unevaluatedProperties = false;
  return out;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ajv = new Ajv2020({
  strict: true,
  allErrors: true,
  // The formats the document uses (Ajv has none of its own): RFC 3339 `date-time`, and OpenAPI's integer formats.
  formats: {
    "date-time": { type: "string", validate: (s) => RFC3339.test(s) && !Number.isNaN(Date.parse(s)) },
    int32: { type: "number", validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 },
    int64: /^-?[0-9]+$/,
    uint64: /^[0-9]+$/,
  },
});
ajv.addSchema(forAjv({ $id: COMPONENTS_ID, $defs: doc.components.schemas }));

const validators = new WeakMap<Schema, ValidateFunction>();
/** The compiled validator of a schema of the document (one compilation per schema). */
function validatorOf(schema: Schema): ValidateFunction {
  let validate = validators.get(schema);
  if (validate === undefined) {
    validate = ajv.compile(forAjv(schema));
    validators.set(schema, validate);
  }
  return validate;
}

/** How `value` breaks `schema`: none when it conforms. */
function violations(value: unknown, schema: Schema): ErrorObject[] {
  const validate = validatorOf(schema);
  return validate(value) ? [] : [...validate.errors!];
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
      expect(op!.responses["405"], `${route.httpMethod} ${route.template}: the 405 for other methods`).toBeDefined();
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

  /** Checks an answer's headers, content type and body against what the document says of its status. */
  async function checkAnswer(op: Operation, method: string, res: Response, checkBody: boolean): Promise<void> {
    const response = responseFor(op, res.status);
    for (const [name, header] of Object.entries(response.headers ?? {})) {
      const { required, schema } = header.$ref === undefined ? header : (resolve(header.$ref) as typeof header);
      const value = res.headers.get(name);
      if (value === null) expect(required, `${op.operationId} ${res.status}: no ${name} header`).not.toBe(true);
      else expect(violations(value, schema ?? {}), `${op.operationId} ${res.status}: ${name}: ${value}`).toEqual([]);
    }
    expect(response.headers?.["X-Request-Id"], `${op.operationId} ${res.status}: x-request-id is documented`).toBeDefined();
    const text = await res.text();
    if (method === "head" || response.content === undefined) {
      expect(text, `${op.operationId}: no body`).toBe("");
      return;
    }
    const [mediaType, media] = Object.entries(response.content)[0]!;
    expect(res.headers.get("content-type")?.split(";")[0], op.operationId).toBe(mediaType);
    if (mediaType !== "application/json" || !checkBody) return;
    expect(violations(JSON.parse(text), media.schema), `${op.operationId} ${res.status}: ${text}`).toEqual([]);
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

  // Every path that documents a 405 (the REST routes, the OAuth endpoints) is asked with a method it does not take.
  const strictPaths = Object.entries(doc.paths).filter(([, item]) => Object.values(item).some((op) => "405" in op.responses));
  it.each(strictPaths.map(([path, item]) => [path, item] as const))(
    "%s answers a method it does not take with the documented 405",
    async (path, item) => {
      const methods = Object.keys(item).filter((method) => METHODS.has(method));
      const ops = methods.map((method) => item[method]!);
      for (const op of ops) expect(op.responses["405"], op.operationId).toEqual(ops[0]!.responses["405"]);
      const wrong = ["put", "patch", "get", "post", "delete"].find((method) => !methods.includes(method))!;
      const url = service.baseUrl + path.replace(/\{(\w+)\}/g, (_m, name: string) => `openapi-${name}`);
      const res = await fetch(url, { method: wrong.toUpperCase() });
      expect(res.status, `${wrong.toUpperCase()} ${path}`).toBe(405);
      expect(res.headers.get("allow")?.split(", ").sort()).toEqual(methods.map((method) => method.toUpperCase()).sort());
      await checkAnswer(ops[0]!, wrong, res, true);
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
    const restError = { $ref: "#/components/schemas/RestError" };
    const good = { success: false, info: "no", code: "unauthenticated", reason: "TOKEN_MISSING" };
    expect(violations(good, restError)).toEqual([]);
    const { reason: _reason, ...withoutReason } = good;
    expect(violations(withoutReason, restError)).toEqual([
      expect.objectContaining({ instancePath: "", keyword: "required", params: { missingProperty: "reason" } }),
    ]);
    expect(violations({ ...good, extra: 1 }, restError)).toEqual([
      expect.objectContaining({ instancePath: "", keyword: "unevaluatedProperties", params: { unevaluatedProperty: "extra" } }),
    ]);
    expect(violations({ ...good, reason: "NOT_A_REASON" }, restError)).toEqual([
      expect.objectContaining({ instancePath: "/reason", keyword: "enum" }),
    ]);
    const revocation = { $ref: "#/components/schemas/tokens.v1.Revocation" };
    const revoked = { scope: "REVOCATION_SCOPE_JTI", issuer: "", jti: "", subject: "", revoked: true };
    expect(violations({ ...revoked, issued_before: "2026-01-02T03:04:05.678Z" }, revocation)).toEqual([]);
    expect(violations({ ...revoked, issued_before: "yesterday" }, revocation)).toEqual([
      expect.objectContaining({ instancePath: "/issued_before", keyword: "format", params: { format: "date-time" } }),
    ]);
    // A keyword Ajv does not know, or a reference to nothing, stops the check rather than being skipped.
    expect(() => ajv.compile({ type: "string", maxLenght: 3 })).toThrow(/unknown keyword/);
    expect(() => validatorOf({ $ref: "#/components/schemas/NotAComponent" })).toThrow();
  });

  it("an undocumented path is not found: the live checks above can fail", async () => {
    const res = await fetch(`${service.baseUrl}/not-documented`);
    expect(res.status).toBe(404);
    expect(doc.paths["/not-documented"]).toBeUndefined();
  });
});
