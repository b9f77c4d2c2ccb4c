/**
 * The obvious gRPC alternative: a plain @grpc/grpc-js server with the same
 * Info logic as the node:http baseline (bearer, JWT with a KeyObject,
 * fingerprint, one Redis lookup), loading the service's own .proto.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=0 npx tsx bench/baseline-grpc.ts
 *
 * With TLS_CERT_FILE and TLS_KEY_FILE it serves TLS, as the service does.
 */
import { createHash, createSecretKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Redis } from "ioredis";
import jwt from "jsonwebtoken";

const key = createSecretKey(Buffer.from(process.env.JWT_SECRET ?? "discogs"));
const issuer = process.env.JWT_ISSUER ?? "https://www.discogs.com/";
const prefix = process.env.REDIS_KEY_PREFIX ?? "tbl:";
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true });

const definition = protoLoader.loadSync("tokens/v1/token_service.proto", {
  includeDirs: [fileURLToPath(new URL("../proto", import.meta.url))],
  keepCase: true,
});
const pkg = grpc.loadPackageDefinition(definition) as unknown as {
  tokens: { v1: { TokenService: grpc.ServiceClientConstructor } };
};

const server = new grpc.Server();
server.addService(pkg.tokens.v1.TokenService.service, {
  Info: async (call: grpc.ServerUnaryCall<object, object>, callback: grpc.sendUnaryData<object>) => {
    const header = String(call.metadata.get("authorization")[0] ?? "");
    const token = header.slice(0, 7).toLowerCase() === "bearer " ? header.slice(7) : "";
    let claims: Record<string, unknown>;
    try {
      claims = jwt.verify(token, key, { algorithms: ["HS256"], issuer }) as Record<string, unknown>;
    } catch {
      callback({ code: grpc.status.UNAUTHENTICATED, details: "invalid token" });
      return;
    }
    const fingerprint = createHash("sha256")
      .update(token.slice(0, token.lastIndexOf(".")))
      .digest("base64url");
    if ((await redis.exists(prefix + fingerprint)) === 1) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: "Token is blacklisted" });
      return;
    }
    callback(null, { success: true, token, decoded_token: toStruct(claims), info: "Token is valid" });
  },
});

/** proto-loader wants google.protobuf.Struct in its message form. */
function toStruct(object: Record<string, unknown>): object {
  const fields: Record<string, object> = {};
  for (const [k, v] of Object.entries(object)) {
    fields[k] = typeof v === "number" ? { numberValue: v } : typeof v === "boolean" ? { boolValue: v } : { stringValue: String(v) };
  }
  return { fields };
}

const { TLS_CERT_FILE, TLS_KEY_FILE } = process.env;
const credentials =
  TLS_CERT_FILE !== undefined && TLS_KEY_FILE !== undefined
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(TLS_CERT_FILE), private_key: readFileSync(TLS_KEY_FILE) }])
    : grpc.ServerCredentials.createInsecure();
server.bindAsync(`127.0.0.1:${process.env.PORT ?? 0}`, credentials, (err, port) => {
  if (err) throw err;
  console.log(JSON.stringify({ listening: port }));
});
process.on("SIGTERM", () => server.tryShutdown(() => redis.quit().finally(() => process.exit(0))));
