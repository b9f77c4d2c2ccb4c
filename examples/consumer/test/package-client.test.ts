/**
 * Path 1 of README "Call it from another service": the package's compiled
 * generated client, imported under plain Node through the package's `exports`
 * (token-blacklist/gen/*.js: JavaScript with its .d.ts), on the consumer's own
 * @connectrpc/connect. Over gRPC, gRPC-Web and Connect: a valid token passes
 * Info; once revoked, Info fails UNAUTHENTICATED with a google.rpc.ErrorInfo
 * detail saying why (reason TOKEN_REVOKED, scope REVOCATION_SCOPE_TOKEN).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "token-blacklist/gen/google/rpc/error_details_pb.js";
import { TokenService } from "token-blacklist/gen/tokens/v1/token_service_pb.js";
import { startTokenBlacklist, token } from "./token-blacklist.ts";

let service: { url: string; stop(): void };
before(async () => {
  service = await startTokenBlacklist();
});
after(() => service.stop());

const transports: Record<string, (baseUrl: string) => Transport> = {
  grpc: (baseUrl) => createGrpcTransport({ baseUrl }),
  "grpc-web": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
  connect: (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
};

for (const [protocol, transport] of Object.entries(transports)) {
  test(`the package's generated client (${protocol}): Info passes, then fails TOKEN_REVOKED once the token is revoked`, async () => {
    const client = createClient(TokenService, transport(service.url));
    const headers = { authorization: `Bearer ${token(`alice-${protocol}`)}` };

    const valid = await client.info({}, { headers });
    assert.equal(valid.success, true);
    assert.equal(valid.decodedToken?.sub, `alice-${protocol}`);

    const revoked = await client.blacklist({}, { headers });
    assert.equal(revoked.newlyBlacklisted, true);

    const error = await client.info({}, { headers }).then(
      () => assert.fail("Info passed a revoked token"),
      (reason: unknown) => ConnectError.from(reason),
    );
    assert.equal(error.code, Code.Unauthenticated);
    const [info] = error.findDetails(ErrorInfoSchema);
    assert.ok(info, `no google.rpc.ErrorInfo detail on ${protocol}'s error: ${error.message}`);
    assert.equal(info.domain, "tokens.v1");
    assert.equal(info.reason, "TOKEN_REVOKED"); // a tokens.v1.ErrorReason value's name
    assert.equal(info.metadata.scope, "REVOCATION_SCOPE_TOKEN"); // a tokens.v1.RevocationScope value's name
  });
}
