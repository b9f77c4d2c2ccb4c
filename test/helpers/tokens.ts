import { createHmac } from "node:crypto";
import jwt from "jsonwebtoken";

/** The service's defaults, as a fresh `npm start` uses them. */
export const SECRET = "discogs";
export const ISSUER = "https://www.discogs.com/";

/** Signs a token the service accepts unless `options` says otherwise. */
export function mint(
  claims: Record<string, unknown> = {},
  options: { secret?: string; issuer?: string | null; expiresInSeconds?: number | null; algorithm?: jwt.Algorithm } = {},
): string {
  const payload: Record<string, unknown> = { sub: "alice", jti: crypto.randomUUID(), ...claims };
  const signOptions: jwt.SignOptions = { algorithm: options.algorithm ?? "HS256" };
  if (options.issuer !== null) signOptions.issuer = options.issuer ?? ISSUER;
  if (options.expiresInSeconds !== null) signOptions.expiresIn = options.expiresInSeconds ?? 3600;
  return jwt.sign(payload, options.secret ?? SECRET, signOptions);
}

/** Builds a token from raw parts, for inputs a JWT library would refuse to sign. */
export function rawToken(header: unknown, payload: unknown, signature = "c2lnbmF0dXJl"): string {
  const encode = (part: unknown) => Buffer.from(typeof part === "string" ? part : JSON.stringify(part)).toString("base64url");
  return `${encode(header)}.${encode(payload)}.${signature}`;
}

/** Signs arbitrary header and payload JSON with HMAC-SHA256, for well-signed but ill-formed tokens. */
export function signRaw(header: unknown, payload: unknown, secret = SECRET): string {
  const unsigned = rawToken(header, payload).split(".").slice(0, 2).join(".");
  const signature = createHmac("sha256", secret).update(unsigned).digest("base64url");
  return `${unsigned}.${signature}`;
}
