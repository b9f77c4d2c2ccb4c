import type { DescField } from "@bufbuild/protobuf";
import type { RestRoute } from "../../src/server/rest-routes.js";
import { errorResponses, type PathItems, TIMEOUT_PARAMETERS } from "./common-components.js";
import type { ProtoComments } from "./proto-comments.js";
import type { ProtoSchemas, Schema } from "./proto-schemas.js";
import { rpcAccess } from "./rpc-access.js";

/** The OpenAPI path of a route: its template with `{field=*}` written `{field}`. */
export const openApiPath = (route: RestRoute): string =>
  `/${route.segments.map((segment) => (typeof segment === "string" ? segment : `{${segment.field}}`)).join("/")}`;

/**
 * The operations of the REST routes, one per route of src/server/rest-routes.ts
 * (the routes the server serves, from the `google.api.http` annotations):
 * path variables, query parameters (every other field, on routes without a
 * `body: "*"`), the JSON body, who may call, and the answers.
 */
export function restPaths(routes: readonly RestRoute[], schemas: ProtoSchemas, comments: ProtoComments): PathItems {
  const paths: PathItems = {};
  const operationIds = new Set<string>();
  for (const route of routes) {
    const { method } = route;
    const rpc = `${method.parent.typeName}.${method.name}`;
    const pathFields = route.segments.flatMap((segment) => (typeof segment === "string" ? [] : [segment.field]));
    const field = (name: string) => method.input.fields.find((f) => f.name === name)!;
    const parameters: Schema[] = pathFields.map((name) => ({
      name,
      in: "path",
      required: true,
      ...described(comments.get(`${method.input.typeName}.${name}`), "Percent-encoded when it holds `/` or other reserved characters."),
      schema: schemas.requestField(field(name)),
    }));
    if (route.body !== "*") {
      for (const f of method.input.fields) {
        if (pathFields.includes(f.name) || f.name === route.body) continue;
        parameters.push(queryParameter(f, schemas, comments.get(`${method.input.typeName}.${f.name}`)));
      }
    }
    parameters.push(...TIMEOUT_PARAMETERS);
    const body =
      route.body === ""
        ? undefined
        : route.body === "*"
          ? schemas.request(method.input, pathFields)
          : schemas.requestField(field(route.body));
    const access = rpcAccess(method.name);
    const comment = comments.get(rpc);
    const operationId = uniqueId(method.name, operationIds);
    const path = openApiPath(route);
    const item = paths[path] ?? {};
    paths[path] = item;
    const verb = route.httpMethod.toLowerCase();
    if (item[verb] !== undefined) throw new Error(`${route.httpMethod} ${route.template} is bound twice`);
    item[verb] = {
      tags: [method.parent.name],
      operationId,
      summary: summaryOf(comment) ?? method.name,
      ...(comment === undefined ? {} : { description: `${comment}\n\nRPC: \`${method.parent.typeName}/${method.name}\`.` }),
      parameters,
      ...(body === undefined
        ? {}
        : {
            requestBody: {
              description: "Protobuf JSON with the proto field names (the JSON names are accepted too); an empty body is an empty message.",
              required: false,
              content: { "application/json": { schema: body } },
            },
          }),
      responses: {
        "200": {
          description: comments.get(method.output.typeName) ?? "The answer.",
          content: { "application/json": { schema: schemas.response(method.output) } },
        },
        ...errorResponses({
          unauthenticated: access.some((set) => set.includes("bearer")),
          permissionDenied: access.some((set) => set.includes("adminKey")),
        }),
      },
      security: access.map((set) => Object.fromEntries(set.map((credential) => [credential, []]))),
    };
  }
  return paths;
}

function queryParameter(field: DescField, schemas: ProtoSchemas, comment: string | undefined): Schema {
  const schema = schemas.requestField(field);
  // The REST handler binds a query value as the field's JSON: scalars, enums, and messages whose JSON is a string (Timestamp...).
  if (field.fieldKind === "map" || (field.fieldKind === "message" && schema.type !== "string")) {
    throw new Error(`${field.parent.typeName}.${field.name}: a ${field.fieldKind} field cannot be a query parameter`);
  }
  return {
    name: field.name,
    in: "query",
    required: false,
    ...described(comment),
    schema,
    ...(field.fieldKind === "list" ? { explode: true } : {}),
  };
}

function described(...parts: Array<string | undefined>): { description?: string } {
  const text = parts.filter((p) => p !== undefined).join(" ");
  return text === "" ? {} : { description: text };
}

/** The comment's first sentence. */
function summaryOf(comment: string | undefined): string | undefined {
  if (comment === undefined) return undefined;
  const flat = comment.replace(/\s+/g, " ");
  const end = flat.search(/\.(\s|$)/);
  return end < 0 ? flat : flat.slice(0, end + 1);
}

function uniqueId(name: string, taken: Set<string>): string {
  let id = name;
  for (let n = 2; taken.has(id); n++) id = `${name}${n}`;
  taken.add(id);
  return id;
}
