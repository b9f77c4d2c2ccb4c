/** A JSON Schema, as the OpenAPI document holds it. */
export type Schema = { [keyword: string]: unknown };

/** Keywords that only describe. */
const ANNOTATIONS = new Set(["description", "title", "contentEncoding", "examples"]);

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The ways `value` breaks `schema` (none: it conforms), for the JSON Schema
 * keywords scripts/openapi/ writes. A keyword this does not know is reported
 * as a violation, so no constraint is skipped silently. Objects that list
 * `properties` admit no other keys unless `additionalProperties` says so:
 * every field an answer carries must be documented.
 */
export function schemaViolations(value: unknown, schema: Schema, resolve: (ref: string) => Schema, at = "$"): string[] {
  const out: string[] = [];
  for (const [keyword, arg] of Object.entries(schema)) {
    if (ANNOTATIONS.has(keyword)) continue;
    switch (keyword) {
      case "$ref":
        out.push(...schemaViolations(value, resolve(arg as string), resolve, at));
        break;
      case "type":
        if (!hasType(value, arg as string)) out.push(`${at}: ${JSON.stringify(value)} is not ${arg}`);
        break;
      case "const":
        if (value !== arg) out.push(`${at}: ${JSON.stringify(value)} is not ${JSON.stringify(arg)}`);
        break;
      case "enum":
        if (!(arg as unknown[]).includes(value)) out.push(`${at}: ${JSON.stringify(value)} is not one of ${(arg as unknown[]).join(", ")}`);
        break;
      case "pattern":
        if (typeof value === "string" && !new RegExp(arg as string, "u").test(value)) out.push(`${at}: "${value}" does not match ${arg}`);
        break;
      case "format":
        if (!hasFormat(value, arg as string)) out.push(`${at}: ${JSON.stringify(value)} is not a ${arg}`);
        break;
      case "minimum":
        if (typeof value === "number" && value < (arg as number)) out.push(`${at}: ${value} < ${arg}`);
        break;
      case "maximum":
        if (typeof value === "number" && value > (arg as number)) out.push(`${at}: ${value} > ${arg}`);
        break;
      case "required":
        if (isObject(value)) for (const key of arg as string[]) if (!(key in value)) out.push(`${at}: lacks "${key}"`);
        break;
      case "properties":
        if (isObject(value)) {
          for (const [key, sub] of Object.entries(arg as Record<string, Schema>))
            if (key in value) out.push(...schemaViolations(value[key], sub, resolve, `${at}.${key}`));
          if (schema.additionalProperties === undefined)
            for (const key of Object.keys(value)) if (!(key in (arg as object))) out.push(`${at}: "${key}" is not documented`);
        }
        break;
      case "additionalProperties":
        if (isObject(value) && arg !== true) {
          const known = (schema.properties ?? {}) as object;
          for (const [key, item] of Object.entries(value)) {
            if (key in known) continue;
            if (arg === false) out.push(`${at}: "${key}" is not documented`);
            else out.push(...schemaViolations(item, arg as Schema, resolve, `${at}.${key}`));
          }
        }
        break;
      case "items":
        if (Array.isArray(value))
          for (const [i, item] of value.entries()) out.push(...schemaViolations(item, arg as Schema, resolve, `${at}[${i}]`));
        break;
      case "anyOf":
        if ((arg as Schema[]).every((sub) => schemaViolations(value, sub, resolve, at).length > 0))
          out.push(`${at}: matches none of anyOf`);
        break;
      default:
        out.push(`${at}: the check does not know the keyword "${keyword}"`);
    }
  }
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case "object":
      return isObject(value);
    case "array":
      return Array.isArray(value);
    case "integer":
      return Number.isInteger(value);
    case "null":
      return value === null;
    default:
      return typeof value === type;
  }
}

function hasFormat(value: unknown, format: string): boolean {
  if (typeof value !== "string" && typeof value !== "number") return true; // formats constrain strings and numbers only
  switch (format) {
    case "date-time":
      return typeof value === "string" && RFC3339.test(value) && !Number.isNaN(Date.parse(value));
    case "int32":
      return Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31;
    case "int64":
      return typeof value === "string" && /^-?\d+$/.test(value);
    case "uint64":
      return typeof value === "string" && /^\d+$/.test(value);
    default:
      return false;
  }
}
