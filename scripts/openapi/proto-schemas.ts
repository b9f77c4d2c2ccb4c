import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import type { ProtoComments } from "./proto-comments.js";

/** A JSON Schema, in OpenAPI 3.1's dialect (JSON Schema 2020-12). */
export type Schema = { [keyword: string]: unknown };

/** A reference to `#/components/schemas/<name>`. */
export const schemaRef = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

/** Requests may leave any field out; responses always carry their implicit fields. */
type Mode = "request" | "response";

/** Well-known types whose JSON is not an object of their fields (the proto3 JSON mapping). */
const WELL_KNOWN: Record<string, Schema> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" },
  "google.protobuf.Struct": { type: "object" },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array" },
  "google.protobuf.FieldMask": { type: "string" },
  "google.protobuf.Empty": { type: "object" },
};

/**
 * JSON Schemas of protobuf messages as the REST routes read and write them:
 * proto field names (`decoded_token`), enums by name, 64-bit integers as
 * strings, Timestamps as RFC 3339 strings, Struct as any object. A response
 * message is a component whose implicit fields are required (the server
 * always writes them); a request body is inline and requires nothing.
 * Descriptions are the proto comments.
 */
export class ProtoSchemas {
  /** Component schemas by name, in the order they were first used. */
  readonly components = new Map<string, Schema>();

  constructor(private readonly comments: ProtoComments) {}

  /** A reference to the message's response schema; adds it, and the types it uses, to the components. */
  response(message: DescMessage): Schema {
    const wellKnown = WELL_KNOWN[message.typeName];
    if (wellKnown !== undefined) return wellKnown;
    if (!this.components.has(message.typeName)) {
      this.components.set(message.typeName, {}); // before the fields: a message may contain itself
      this.components.set(message.typeName, this.object(message, "response", [], new Set()));
    }
    return schemaRef(message.typeName);
  }

  /** An inline schema of a request body: the message's fields but those in `omit` (bound from the path). */
  request(message: DescMessage, omit: readonly string[] = []): Schema {
    return this.object(message, "request", omit, new Set());
  }

  /** A field's value as a query parameter or a request body carries it. */
  requestField(field: DescField): Schema {
    return this.field(field, "request", new Set());
  }

  /** A reference to an enum's schema (its value names), without the values in `omit` (those never sent). */
  enumRef(desc: DescEnum, omit: readonly string[] = []): Schema {
    const values = desc.values.filter((v) => !omit.includes(v.name));
    const existing = this.components.get(desc.typeName);
    if (existing === undefined) {
      const list = values.map((v) => {
        const comment = this.comments.get(`${desc.typeName}.${v.name}`);
        return comment === undefined ? `- \`${v.name}\`` : `- \`${v.name}\`: ${comment.replace(/\n/g, " ")}`;
      });
      const description = [this.comments.get(desc.typeName), list.join("\n")].filter((s) => s !== undefined).join("\n\n");
      this.components.set(desc.typeName, { type: "string", description, enum: values.map((v) => v.name) });
    } else if (JSON.stringify(existing.enum) !== JSON.stringify(values.map((v) => v.name))) {
      throw new Error(`${desc.typeName} is used with two different sets of values`);
    }
    return schemaRef(desc.typeName);
  }

  private object(message: DescMessage, mode: Mode, omit: readonly string[], inline: Set<string>): Schema {
    const properties: Record<string, Schema> = {};
    const required: string[] = [];
    for (const field of message.fields) {
      if (omit.includes(field.name)) continue;
      const schema = this.field(field, mode, inline);
      const description = this.comments.get(`${message.typeName}.${field.name}`);
      properties[field.name] = description === undefined ? schema : { ...schema, description };
      if (mode === "response" && alwaysWritten(field)) required.push(field.name);
    }
    const description = this.comments.get(message.typeName);
    return {
      type: "object",
      ...(description === undefined ? {} : { description }),
      properties,
      ...(required.length === 0 ? {} : { required }),
    };
  }

  private field(field: DescField, mode: Mode, inline: Set<string>): Schema {
    switch (field.fieldKind) {
      case "scalar":
        return scalar(field.scalar);
      case "enum":
        return this.enumValue(field.enum);
      case "message":
        return this.message(field.message, mode, inline);
      case "list": {
        const items =
          field.listKind === "scalar"
            ? scalar(field.scalar)
            : field.listKind === "enum"
              ? this.enumValue(field.enum)
              : this.message(field.message, mode, inline);
        return { type: "array", items };
      }
      case "map": {
        const values =
          field.mapKind === "scalar"
            ? scalar(field.scalar)
            : field.mapKind === "enum"
              ? this.enumValue(field.enum)
              : this.message(field.message, mode, inline);
        return { type: "object", additionalProperties: values };
      }
    }
  }

  private enumValue(desc: DescEnum): Schema {
    return desc.typeName === "google.protobuf.NullValue" ? { type: "null" } : this.enumRef(desc);
  }

  private message(message: DescMessage, mode: Mode, inline: Set<string>): Schema {
    const wellKnown = WELL_KNOWN[message.typeName];
    if (wellKnown !== undefined) return wellKnown;
    if (message.typeName.startsWith("google.protobuf.")) {
      throw new Error(`${message.typeName}: its JSON form is not written by the OpenAPI generator yet (scripts/openapi/proto-schemas.ts)`);
    }
    if (mode === "response") return this.response(message);
    if (inline.has(message.typeName)) throw new Error(`${message.typeName} contains itself: a request body cannot be inlined`);
    return this.object(message, mode, [], new Set([...inline, message.typeName]));
  }
}

/** Fields protobuf JSON writes even when empty (`alwaysEmitImplicit`, as the REST routes answer): implicit presence, lists, maps. */
function alwaysWritten(field: DescField): boolean {
  if (field.fieldKind === "list" || field.fieldKind === "map") return true;
  return field.fieldKind !== "message" && field.presence === FeatureSet_FieldPresence.IMPLICIT;
}

/** A scalar as protobuf JSON writes it. */
function scalar(type: ScalarType): Schema {
  switch (type) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
    case ScalarType.FLOAT:
    case ScalarType.DOUBLE:
      return { anyOf: [{ type: "number" }, { type: "string", enum: ["NaN", "Infinity", "-Infinity"] }] };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
  }
}
