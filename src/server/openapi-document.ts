import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Where the document is served. */
export const OPENAPI_PATH = "/openapi.json";

/**
 * The committed OpenAPI document (openapi/openapi.json, which
 * `npm run generate:openapi` writes), read once at start-up from the package
 * root: the nearest folder above this module with a package.json, so it is
 * found from src/ (tsx), dist/src/ and an installed package alike. A package
 * without it fails to start rather than serving no document.
 */
export function readOpenApiDocument(): Buffer {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}: cannot find openapi/openapi.json`);
    dir = parent;
  }
  const file = join(dir, "openapi", "openapi.json");
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the OpenAPI document ${file} (run npm run generate:openapi): ${(err as Error).message}`);
  }
}
