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

/**
 * Re-encodes the signature segment by flipping a base64url padding bit: the
 * decoded bytes are the same, the text differs. A library that compares
 * decoded signatures accepts it; the fingerprint must not change.
 */
export function reencodeSignature(token: string): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const spareBits = (signature.length * 6) % 8;
  if (spareBits === 0) throw new Error("this signature length has no spare bits");
  const last = alphabet.indexOf(signature.at(-1)!);
  const reencoded = signature.slice(0, -1) + alphabet[last ^ 1];
  if (!Buffer.from(reencoded, "base64url").equals(Buffer.from(signature, "base64url"))) {
    throw new Error("re-encoding changed the bytes");
  }
  return `${header}.${payload}.${reencoded}`;
}

/** The order of P-256's base point. */
const P256_N = BigInt("0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");

/** Turns an ES256 signature (r, s) into the other valid one, (r, n - s). */
export function ecdsaOtherS(token: string): string {
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const bytes = Buffer.from(signature, "base64url");
  const s = BigInt(`0x${bytes.subarray(32).toString("hex")}`);
  const other = Buffer.from((P256_N - s).toString(16).padStart(64, "0"), "hex");
  return `${header}.${payload}.${Buffer.concat([bytes.subarray(0, 32), other]).toString("base64url")}`;
}
