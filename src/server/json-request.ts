import { create, fromJson, type DescMessage, type JsonObject, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ErrorReason, refusal } from "../service/error-reasons.js";

/**
 * Request bodies in JSON follow protobuf JSON's rules on every protocol that
 * takes JSON (REST, Connect, gRPC-Web JSON): the body is one object, a key
 * may appear once, and a field the message does not have is refused, not
 * ignored (the proto3 JSON mapping's default). A refusal is INVALID_ARGUMENT
 * saying what was wrong.
 */
export function parseJsonBody(text: string): JsonObject {
  let value: JsonValue;
  try {
    value = JSON.parse(text) as JsonValue;
  } catch {
    throw refusal(Code.InvalidArgument, ErrorReason.REQUEST_MALFORMED, "Request body must be JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw refusal(Code.InvalidArgument, ErrorReason.REQUEST_MALFORMED, "Request body must be a JSON object");
  }
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined)
    throw refusal(Code.InvalidArgument, ErrorReason.REQUEST_MALFORMED, `Request body names "${duplicate}" twice`);
  return value;
}

/** Builds the request message from JSON (proto or JSON field names); unknown fields and ill-typed values are INVALID_ARGUMENT. */
export function messageFromJson<Desc extends DescMessage>(schema: Desc, json: JsonObject): MessageShape<Desc> {
  if (Object.keys(json).length === 0) return create(schema);
  try {
    return fromJson(schema, json, { ignoreUnknownFields: false });
  } catch (err) {
    throw refusal(
      Code.InvalidArgument,
      ErrorReason.REQUEST_MALFORMED,
      `Request does not match ${schema.typeName}: ${(err as Error).message}`,
    );
  }
}

/**
 * The first key that appears twice in one object of `text`, which must be
 * valid JSON (JSON.parse would silently keep the last one). A scan, not a
 * second parse: it only tracks where object keys are.
 */
export function duplicateKey(text: string): string | undefined {
  if (text.indexOf(",") < 0) return undefined; // one key per object at most
  const stack: Array<Set<string> | null> = []; // a Set per open object, null per open array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = i + 1;
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c /* \ */ ? 2 : 1;
      const keys = stack.at(-1);
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack.at(-1) !== null && stack.length > 0;
    }
  }
  return undefined;
}
