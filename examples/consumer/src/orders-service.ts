/**
 * A consumer's own HTTP service ("orders"), guarded by token-blacklist/client:
 * every request's bearer token is verified and checked against the
 * revocation mirror in this process, no network round trip per request.
 *
 *   TOKEN_SERVICE_URL=http://localhost:35000 FEED_KEY=... JWT_SECRET=... JWT_ISSUER=... node src/orders-service.ts
 */
import { createServer, type Server } from "node:http";
import { createTokenChecker, type TokenChecker, tokenCheckMiddleware, verifiedTokenOf } from "token-blacklist/client";

/** Starts the orders service on `port` (0: any); resolves once it listens and the mirror is loaded. */
export async function startOrdersService(options: {
  tokenServiceUrl: string;
  feedKey: string;
  secret: string;
  issuer: string;
  port?: number;
}): Promise<{ server: Server; checker: TokenChecker; url: string }> {
  const checker = await createTokenChecker({
    baseUrl: options.tokenServiceUrl,
    feedKey: options.feedKey,
    jwt: { secret: options.secret, issuer: options.issuer },
    maxStalenessMs: 5000,
  });
  await checker.ready();
  const guard = tokenCheckMiddleware(checker);
  const server = createServer((request, response) =>
    guard(request, response, () => {
      const subject = String(verifiedTokenOf(request)?.claims.sub);
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ orders: [], for: subject }));
    }),
  );
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { server, checker, url: `http://127.0.0.1:${port}` };
}

if (import.meta.main) {
  const env = (name: string) => {
    const value = process.env[name];
    if (value === undefined || value === "") throw new Error(`${name} is required`);
    return value;
  };
  const { url } = await startOrdersService({
    tokenServiceUrl: env("TOKEN_SERVICE_URL"),
    feedKey: env("FEED_KEY"),
    secret: env("JWT_SECRET"),
    issuer: env("JWT_ISSUER"),
    port: Number(process.env.PORT ?? 8080),
  });
  console.log(`orders service on ${url}`);
}
