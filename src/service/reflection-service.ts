import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection as ServerReflectionV1,
  type ServerReflectionRequest as RequestV1,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ServerReflectionV1alpha } from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/** gRPC's NOT_FOUND, as reflection's ErrorResponse carries it. */
const NOT_FOUND = 5;

/**
 * gRPC server reflection (`grpc.reflection.v1` and `v1alpha`, which have the
 * same messages), answered from the generated descriptors, so grpcurl and
 * Postman can list and call the services without .proto files.
 */
export function createReflectionServices(services: readonly DescService[]): {
  v1: ServiceImpl<typeof ServerReflectionV1>;
  v1alpha: ServiceImpl<typeof ServerReflectionV1alpha>;
} {
  const all = [...services, ServerReflectionV1, ServerReflectionV1alpha];
  const index = indexFiles(all.map((service) => service.file));
  const answer = (request: RequestV1) => ({
    validHost: request.host,
    originalRequest: request,
    messageResponse: respond(request.messageRequest, all, index),
  });
  return {
    v1: {
      async *serverReflectionInfo(requests) {
        for await (const request of requests) yield answer(request);
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        // v1alpha's messages have the same fields and numbers as v1's.
        for await (const request of requests) yield answer(request as unknown as RequestV1) as never;
      },
    },
  };
}

interface FileIndex {
  /** By `file.proto.name` (with ".proto"); `DescFile.name` has no suffix. */
  byName: Map<string, DescFile>;
  /** Fully-qualified names of messages, enums, services, methods and extensions -> their file. */
  bySymbol: Map<string, DescFile>;
}

function indexFiles(roots: DescFile[]): FileIndex {
  const byName = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (byName.has(file.proto.name)) return;
    byName.set(file.proto.name, file);
    const addMessages = (messages: DescFile["messages"]) => {
      for (const message of messages) {
        bySymbol.set(message.typeName, file);
        for (const e of message.nestedEnums) bySymbol.set(e.typeName, file);
        for (const x of message.nestedExtensions) bySymbol.set(x.typeName, file);
        addMessages(message.nestedMessages);
      }
    };
    addMessages(file.messages);
    for (const e of file.enums) bySymbol.set(e.typeName, file);
    for (const x of file.extensions) bySymbol.set(x.typeName, file);
    for (const service of file.services) {
      bySymbol.set(service.typeName, file);
      for (const method of service.methods) bySymbol.set(`${service.typeName}.${method.name}`, file);
    }
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const root of roots) visit(root);
  return { byName, bySymbol };
}

/** The file and everything it imports, as serialized FileDescriptorProtos. */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    for (const dependency of f.dependencies) visit(dependency);
  };
  visit(file);
  return out;
}

function respond(request: RequestV1["messageRequest"], services: readonly DescService[], index: FileIndex) {
  const notFound = (what: string) => ({
    case: "errorResponse" as const,
    value: { errorCode: NOT_FOUND, errorMessage: `${what} not found` },
  });
  const files = (file: DescFile | undefined, what: string) =>
    file === undefined
      ? notFound(what)
      : { case: "fileDescriptorResponse" as const, value: { fileDescriptorProto: withDependencies(file) } };
  switch (request.case) {
    case "listServices":
      return { case: "listServicesResponse" as const, value: { service: services.map((s) => ({ name: s.typeName })) } };
    case "fileByFilename":
      return files(index.byName.get(request.value), `file ${request.value}`);
    case "fileContainingSymbol":
      return files(index.bySymbol.get(request.value), `symbol ${request.value}`);
    case "fileContainingExtension":
      return notFound(`extension ${request.value.extensionNumber} of ${request.value.containingType}`);
    case "allExtensionNumbersOfType":
      return index.bySymbol.has(request.value)
        ? { case: "allExtensionNumbersResponse" as const, value: { baseTypeName: request.value, extensionNumber: [] } }
        : notFound(`type ${request.value}`);
    default:
      return { case: "errorResponse" as const, value: { errorCode: 3, errorMessage: "empty reflection request" } };
  }
}
