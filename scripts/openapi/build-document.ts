import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import { restRoutes } from "../../src/server/rest-routes.js";
import { commonComponents, everyOperation } from "./common-components.js";
import { gatewayPaths } from "./gateway-paths.js";
import { operationalPaths } from "./operational-paths.js";
import { readProtoComments } from "./proto-comments.js";
import { ProtoSchemas, type Schema } from "./proto-schemas.js";
import { restPaths } from "./rest-paths.js";

/**
 * The OpenAPI 3.1 document of the service's HTTP routes. The REST operations
 * come from the routes the server builds (`restRoutes(TokenService)`, from the
 * `google.api.http` annotations in gen/), their schemas from the same
 * descriptors, and the descriptions from the comments of proto/ (the
 * generated code in gen/ is made from it). `root` is the repository.
 */
export function buildOpenApiDocument(root: string): Schema {
  const comments = readProtoComments(root, "proto/tokens/v1");
  const schemas = new ProtoSchemas(comments);
  const common = commonComponents(schemas);
  const operational = operationalPaths();
  const gateways = gatewayPaths();
  const rest = restPaths(restRoutes(TokenService), schemas, comments);
  const { version, license } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; license: string };
  const fileComment = comments.get(TokenService.file.proto.name);
  return {
    openapi: "3.1.0",
    info: {
      title: "token-blacklist",
      version,
      summary: "JWT revocation: the REST routes of tokens.v1.TokenService, the probes and the gateway endpoints.",
      ...(fileComment === undefined ? {} : { description: fileComment }),
      license: { name: license, identifier: license },
    },
    tags: [
      { name: TokenService.name, description: comments.get(TokenService.typeName) ?? TokenService.typeName },
      { name: "Operations", description: "Probes, metrics and this document." },
      { name: "Gateways", description: "Endpoints for proxies and OAuth clients, over the same rules." },
    ],
    paths: sorted(everyOperation(disjoint(rest, operational.paths, gateways.paths))),
    components: {
      schemas: sorted(disjoint(Object.fromEntries(schemas.components), common.schemas, operational.schemas, gateways.schemas)),
      ...common.rest,
    },
  };
}

/** The records merged; a key in two of them is a route or a schema documented twice. */
function disjoint<T>(...records: Array<Record<string, T>>): Record<string, T> {
  const merged: Record<string, T> = {};
  for (const record of records) {
    for (const [key, value] of Object.entries(record)) {
      if (key in merged) throw new Error(`${key} is documented twice`);
      merged[key] = value;
    }
  }
  return merged;
}

/** Keys in code-point order, so the document does not change with the order things were added in. */
function sorted<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
