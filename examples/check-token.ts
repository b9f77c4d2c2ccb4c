/**
 * A generated TypeScript client calling the service over gRPC: what another
 * service does to ask "is this token valid and not revoked?".
 *
 *   TOKEN=... npx tsx examples/check-token.ts [http://localhost:35000]
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TokenService } from "../gen/tokens/v1/token_service_pb.js";

const baseUrl = process.argv[2] ?? "http://localhost:35000";
const token = process.env.TOKEN ?? "";

// createConnectTransport or createGrpcWebTransport work the same way.
const client = createClient(TokenService, createGrpcTransport({ baseUrl }));

try {
  const res = await client.info({}, { headers: { authorization: `Bearer ${token}` } });
  console.log(`valid: sub=${String(res.decodedToken?.sub)} exp=${String(res.decodedToken?.exp)}`);
} catch (err) {
  const error = ConnectError.from(err);
  console.log(`refused: ${Code[error.code]}: ${error.rawMessage}`);
  process.exitCode = 1;
}
