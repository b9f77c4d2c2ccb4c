import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOpenApiDocument } from "./openapi/build-document.js";
import { serializeOpenApi } from "./openapi/serialize.js";

/**
 * `npm run generate:openapi`: writes openapi/openapi.json from the
 * annotations and schemas in gen/ and the comments in proto/. The output is
 * committed and served at GET /openapi.json; CI fails when it is stale.
 */
const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "openapi", "openapi.json");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, serializeOpenApi(buildOpenApiDocument(root)));
process.stdout.write(`wrote ${relative(root, out)}\n`);
