import * as grpc from "@grpc/grpc-js";
import { GrpcReflection } from "grpc-js-reflection-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

/** An independent reflection client (grpc-js + protobufjs), as grpcurl or Postman would use it. */
describe.each(["v1", "v1alpha"])("gRPC server reflection %s", (version) => {
  const client = () => new GrpcReflection(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure(), {}, version);

  it("lists the services", async () => {
    const services = await client().listServices();
    expect(services).toEqual(
      expect.arrayContaining([
        "tokens.v1.TokenService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
  });

  it("describes TokenService's methods", async () => {
    const methods = await client().listMethods("tokens.v1.TokenService");
    expect(methods.map((m) => m.name).sort()).toEqual([
      "Blacklist",
      "GetJtiRevocation",
      "GetSubjectRevocation",
      "History",
      "Info",
      "InspectToken",
      "RestoreJti",
      "RestoreSubject",
      "RevokeJti",
      "RevokeSubject",
      "Unblacklist",
      "WatchRevocations",
    ]);
  });

  it("serves descriptors complete enough to call Info with no .proto file", async () => {
    const descriptor = await client().getDescriptorBySymbol("tokens.v1.TokenService");
    const pkg = descriptor.getPackageObject({ keepCase: true, defaults: true }) as unknown as {
      tokens: { v1: { TokenService: grpc.ServiceClientConstructor } };
    };
    const stub = new pkg.tokens.v1.TokenService(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", `Bearer ${mint({ sub: "reflected" })}`);
    const info = stub.Info as unknown as (
      request: object,
      metadata: grpc.Metadata,
      callback: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void,
    ) => void;
    const response = await new Promise<Record<string, unknown>>((resolve, reject) =>
      info.call(stub, {}, metadata, (err, res) => (err ? reject(err) : resolve(res))),
    );
    stub.close();
    expect(response.success).toBe(true);
    expect(response.info).toBe("Token is valid");
  });

  it("serves a file by name, with its imports, and a message by symbol", async () => {
    const byFile = await client().getDescriptorByFileName("tokens/v1/token_service.proto");
    const root = byFile.getProtobufJsRoot();
    expect(root.lookupService("tokens.v1.TokenService").methods.Info).toBeDefined();
    expect(root.lookupType("google.protobuf.Struct")).toBeDefined();
    // What grpcurl needs to build a RevokeSubject request with a cutoff.
    expect(root.lookupType("google.protobuf.Timestamp")).toBeDefined();
    expect(Object.keys(root.lookupType("tokens.v1.RevokeSubjectRequest").fields)).toEqual(expect.arrayContaining(["subject", "reason"]));
    const bySymbol = await client().getDescriptorBySymbol("tokens.v1.InfoResponse");
    const fields = Object.keys(bySymbol.getProtobufJsRoot().lookupType("tokens.v1.InfoResponse").fields);
    expect(fields).toEqual(expect.arrayContaining(["success", "token", "info"]));
    expect(fields.some((f) => f === "decoded_token" || f === "decodedToken")).toBe(true);
  });

  it("answers an unknown symbol with NOT_FOUND", async () => {
    await expect(client().getDescriptorBySymbol("no.such.Thing")).rejects.toThrow(/not found/i);
  });
});
