import { constants, createHmac, timingSafeEqual, verify as verifyDigest, type KeyObject } from "node:crypto";
import { TokenRejected } from "./token-rejected.js";

/** A JWS in compact serialization, split but not yet trusted. */
export interface CompactJws {
  /** The decoded JOSE header (a JSON object). */
  header: Record<string, unknown>;
  /** `header.payload` as sent: what the signature covers. */
  signingInput: string;
  /** The payload segment, still base64url. */
  payload: string;
  /** The signature segment, still base64url. */
  signature: string;
}

const MALFORMED = "Token is malformed: expected a JWT (header.payload.signature)";
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Splits a compact JWS and decodes its header; refuses anything but three non-empty base64url segments. */
export function parseCompactJws(token: string): CompactJws {
  const firstDot = token.indexOf(".");
  const lastDot = token.lastIndexOf(".");
  if (firstDot <= 0 || lastDot === firstDot || token.indexOf(".", firstDot + 1) !== lastDot) {
    throw new TokenRejected("TOKEN_MALFORMED", MALFORMED);
  }
  const headerPart = token.slice(0, firstDot);
  const payload = token.slice(firstDot + 1, lastDot);
  const signature = token.slice(lastDot + 1);
  if (!BASE64URL.test(headerPart) || !BASE64URL.test(payload)) throw new TokenRejected("TOKEN_MALFORMED", MALFORMED);
  if (signature !== "" && !BASE64URL.test(signature)) throw new TokenRejected("TOKEN_MALFORMED", MALFORMED);
  return { header: decodeObject(headerPart), signingInput: token.slice(0, lastDot), payload, signature };
}

/** Drops `__proto__` keys (JSON.parse keeps them as own properties): see {@link decodeObject}. */
const withoutProtoKeys = (key: string, value: unknown) => (key === "__proto__" ? undefined : value);

/**
 * Decodes a base64url JSON object segment (header or payload). A
 * `__proto__` key, at any depth, is dropped: claims are handed back to
 * clients (as google.protobuf.Struct, which protobuf-es leaves such keys out
 * of, and as REST JSON, where a client merging them into an object would
 * change its prototype), so every protocol returns the same claims without it.
 */
export function decodeObject(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    const text = Buffer.from(segment, "base64url").toString("utf8");
    // The reviver costs a full walk: only when the key can be there, spelled out or with \u escapes.
    value = text.includes("proto") || text.includes("\\u") ? JSON.parse(text, withoutProtoKeys) : JSON.parse(text);
  } catch {
    throw new TokenRejected("TOKEN_MALFORMED", MALFORMED);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new TokenRejected("TOKEN_MALFORMED", MALFORMED);
  return value as Record<string, unknown>;
}

/** How each JWS algorithm (RFC 7518 section 3) is checked with node:crypto. */
interface AlgorithmSpec {
  digest: "sha256" | "sha384" | "sha512";
  family: "hmac" | "rsa" | "rsa-pss" | "ecdsa";
  /** ECDSA: the curve the key must be on, and the P1363 signature length (r || s). */
  curve?: { name: string; signatureBytes: number };
}

/** Every algorithm this service can verify. */
export const ALGORITHMS: Readonly<Record<string, AlgorithmSpec>> = {
  HS256: { digest: "sha256", family: "hmac" },
  HS384: { digest: "sha384", family: "hmac" },
  HS512: { digest: "sha512", family: "hmac" },
  RS256: { digest: "sha256", family: "rsa" },
  RS384: { digest: "sha384", family: "rsa" },
  RS512: { digest: "sha512", family: "rsa" },
  PS256: { digest: "sha256", family: "rsa-pss" },
  PS384: { digest: "sha384", family: "rsa-pss" },
  PS512: { digest: "sha512", family: "rsa-pss" },
  ES256: { digest: "sha256", family: "ecdsa", curve: { name: "prime256v1", signatureBytes: 64 } },
  ES384: { digest: "sha384", family: "ecdsa", curve: { name: "secp384r1", signatureBytes: 96 } },
  ES512: { digest: "sha512", family: "ecdsa", curve: { name: "secp521r1", signatureBytes: 132 } },
};

/** Whether `key` can serve `alg` at all: an HMAC secret for HS, an RSA key for RS and PS, an EC key on the right curve for ES. */
export function keyFits(alg: string, key: KeyObject): boolean {
  const spec = ALGORITHMS[alg];
  if (spec === undefined) return false;
  switch (spec.family) {
    case "hmac":
      return key.type === "secret";
    case "rsa":
      return key.type === "public" && key.asymmetricKeyType === "rsa";
    case "rsa-pss":
      return key.type === "public" && (key.asymmetricKeyType === "rsa" || key.asymmetricKeyType === "rsa-pss");
    case "ecdsa":
      return key.type === "public" && key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === spec.curve!.name;
  }
}

/**
 * Checks the signature of `jws` under `alg` with `key`. HMAC signatures are
 * compared in constant time as canonical base64url text; public-key
 * signatures are verified over their decoded bytes. Refuses with
 * SIGNATURE_INVALID when the key cannot serve the algorithm or the signature
 * does not verify.
 */
export function verifySignature(alg: string, key: KeyObject, jws: CompactJws): void {
  const spec = ALGORITHMS[alg];
  if (spec === undefined) throw new TokenRejected("ALGORITHM_NOT_ALLOWED", `Token algorithm ${alg} is not supported`);
  if (!keyFits(alg, key)) throw new TokenRejected("SIGNATURE_INVALID", "Token algorithm does not match the configured key");
  if (jws.signature === "") throw new TokenRejected("SIGNATURE_INVALID", "Token signature is missing");
  let valid: boolean;
  try {
    valid = signatureMatches(spec, key, jws);
  } catch {
    valid = false; // OpenSSL refuses some malformed signatures with an error instead of false
  }
  if (!valid) throw new TokenRejected("SIGNATURE_INVALID", "Token signature is invalid");
}

function signatureMatches(spec: AlgorithmSpec, key: KeyObject, jws: CompactJws): boolean {
  let valid: boolean;
  if (spec.family === "hmac") {
    const expected = Buffer.from(createHmac(spec.digest, key).update(jws.signingInput).digest("base64url"), "latin1");
    const presented = Buffer.from(jws.signature, "latin1");
    valid = expected.length === presented.length && timingSafeEqual(expected, presented);
  } else {
    const signature = Buffer.from(jws.signature, "base64url");
    const data = Buffer.from(jws.signingInput, "latin1");
    if (spec.family === "ecdsa") {
      valid =
        signature.length === spec.curve!.signatureBytes && verifyDigest(spec.digest, data, { key, dsaEncoding: "ieee-p1363" }, signature);
    } else if (spec.family === "rsa-pss") {
      valid = verifyDigest(
        spec.digest,
        data,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        signature,
      );
    } else {
      valid = verifyDigest(spec.digest, data, { key, padding: constants.RSA_PKCS1_PADDING }, signature);
    }
  }
  return valid;
}

/** Signs `header.payload` with an HMAC secret: development tokens (`token-blacklist mint`) only. */
export function signHmac(alg: "HS256" | "HS384" | "HS512", secret: KeyObject, header: object, payload: object): string {
  const encode = (part: object) => Buffer.from(JSON.stringify(part), "utf8").toString("base64url");
  const signingInput = `${encode({ ...header, alg })}.${encode(payload)}`;
  return `${signingInput}.${createHmac(ALGORITHMS[alg]!.digest, secret).update(signingInput).digest("base64url")}`;
}
