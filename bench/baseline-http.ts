/**
 * The floor for any Node implementation of GET /info: node:http, bearer
 * parsing, JWT verification with a KeyObject, the fingerprint, and one Redis
 * lookup. No framework, no logging, no metrics.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=0 npx tsx bench/baseline-http.ts
 */
import { createHash, createSecretKey } from "node:crypto";
import { createServer } from "node:http";
import { Redis } from "ioredis";
import jwt from "jsonwebtoken";

const key = createSecretKey(Buffer.from(process.env.JWT_SECRET ?? "discogs"));
const issuer = process.env.JWT_ISSUER ?? "https://www.discogs.com/";
const prefix = process.env.REDIS_KEY_PREFIX ?? "tbl:";
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true });

const server = createServer(async (req, res) => {
  const header = req.headers.authorization ?? "";
  const token = header.slice(0, 7).toLowerCase() === "bearer " ? header.slice(7) : "";
  let claims: unknown;
  try {
    claims = jwt.verify(token, key, { algorithms: ["HS256"], issuer });
  } catch {
    res.writeHead(401, { "content-type": "application/json" }).end('{"success":false,"info":"invalid token"}');
    return;
  }
  const fingerprint = createHash("sha256")
    .update(token.slice(0, token.lastIndexOf(".")))
    .digest("base64url");
  if ((await redis.exists(prefix + fingerprint)) === 1) {
    res.writeHead(401, { "content-type": "application/json" }).end('{"success":false,"info":"Token is blacklisted"}');
    return;
  }
  const body = JSON.stringify({ success: true, token, decoded_token: claims, info: "Token is valid" });
  res.writeHead(200, { "content-type": "application/json" }).end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ listening: (server.address() as { port: number }).port }));
});
process.on("SIGTERM", () => server.close(() => redis.quit().finally(() => process.exit(0))));
