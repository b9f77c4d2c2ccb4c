import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { type DescriptorProto, type EnumDescriptorProto, FileDescriptorSetSchema, type SourceCodeInfo } from "@bufbuild/protobuf/wkt";

/** Leading comments by full proto name (`tokens.v1.InfoResponse.decoded_token`, `tokens.v1.TokenService.Info`), and a file's package comment by its name (`tokens/v1/token_service.proto`). */
export type ProtoComments = ReadonlyMap<string, string>;

// Field numbers of the descriptor messages, as source-code-info paths name them.
const FILE_PACKAGE = 2;
const FILE_MESSAGE = 4;
const FILE_ENUM = 5;
const FILE_SERVICE = 6;
const MESSAGE_FIELD = 2;
const MESSAGE_NESTED = 3;
const MESSAGE_ENUM = 4;
const ENUM_VALUE = 2;
const SERVICE_METHOD = 2;

/**
 * The comments of the .proto files under `path` (relative to `root`), read
 * from `buf build`: the descriptors embedded in gen/ carry no source info, so
 * the comments come from the same .proto files `buf generate` compiles.
 */
export function readProtoComments(root: string, path: string): ProtoComments {
  const image = execFileSync(
    join(root, "node_modules/.bin/buf"),
    ["build", "--as-file-descriptor-set", "-o", "-#format=binpb", "--path", path],
    {
      cwd: root,
      maxBuffer: 64 << 20,
    },
  );
  const comments = new Map<string, string>();
  for (const file of fromBinary(FileDescriptorSetSchema, image).file) {
    const byPath = leadingComments(file.sourceCodeInfo);
    const add = (name: string, path: number[]) => {
      const text = byPath.get(path.join("."));
      if (text !== undefined) comments.set(name, text);
    };
    const addEnum = (prefix: string, e: EnumDescriptorProto, path: number[]) => {
      add(`${prefix}${e.name}`, path);
      for (const [i, v] of e.value.entries()) add(`${prefix}${e.name}.${v.name}`, [...path, ENUM_VALUE, i]);
    };
    const addMessage = (prefix: string, m: DescriptorProto, path: number[]) => {
      const name = `${prefix}${m.name}`;
      add(name, path);
      for (const [i, f] of m.field.entries()) add(`${name}.${f.name}`, [...path, MESSAGE_FIELD, i]);
      for (const [i, n] of m.nestedType.entries()) addMessage(`${name}.`, n, [...path, MESSAGE_NESTED, i]);
      for (const [i, e] of m.enumType.entries()) addEnum(`${name}.`, e, [...path, MESSAGE_ENUM, i]);
    };
    const prefix = file.package === "" ? "" : `${file.package}.`;
    add(file.name, [FILE_PACKAGE]);
    for (const [i, m] of file.messageType.entries()) addMessage(prefix, m, [FILE_MESSAGE, i]);
    for (const [i, e] of file.enumType.entries()) addEnum(prefix, e, [FILE_ENUM, i]);
    for (const [i, s] of file.service.entries()) {
      add(`${prefix}${s.name}`, [FILE_SERVICE, i]);
      for (const [j, m] of s.method.entries()) add(`${prefix}${s.name}.${m.name}`, [FILE_SERVICE, i, SERVICE_METHOD, j]);
    }
  }
  return comments;
}

/** Leading comments by source path ("4.0.2.1"), one space after `//` removed, trailing blank space dropped. */
function leadingComments(info: SourceCodeInfo | undefined): Map<string, string> {
  const byPath = new Map<string, string>();
  for (const location of info?.location ?? []) {
    if (location.leadingComments.trim() === "") continue;
    const text = location.leadingComments
      .split("\n")
      .map((line) => (line.startsWith(" ") ? line.slice(1) : line).trimEnd())
      .join("\n")
      .trim();
    byPath.set(location.path.join("."), text);
  }
  return byPath;
}
