import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";

/** The JOSE header fields that pick a key. */
export interface TokenHeader {
  alg: string;
  kid?: string | undefined;
}

/**
 * Where verification keys come from. Keys are `KeyObject`s built once: a
 * string secret costs about 50 times more per verification.
 */
export interface KeySource {
  /**
   * The key for a token. Synchronous when the key is at hand; a JWKS source
   * may fetch. Throws TokenRejected for a key it does not have, and
   * {@link KeysUnavailable} when it cannot get keys at all.
   */
  keyFor(header: TokenHeader): KeyObject | Promise<KeyObject>;
  /** Changes whenever the keys do (a JWKS refresh that changed the set): what was verified under another version is verified again. */
  readonly version: number;
  /** Stops background refreshes. */
  close(): void;
}

/** Keys could not be loaded (JWKS endpoint down); the request should be retried. */
export class KeysUnavailable extends Error {
  override name = "KeysUnavailable";
}

/** The HMAC secret (JWT_SECRET) as a key source. */
export function secretKeySource(secret: string): KeySource {
  const key = createSecretKey(Buffer.from(secret, "utf8"));
  return { keyFor: () => key, version: 0, close: () => {} };
}

/** RSA keys shorter than this are refused (RFC 7518 3.3 asks for 2048 bits or more). */
export const MIN_RSA_BITS = 2048;

/** Why a public key cannot verify tokens, or undefined when it can. */
export function unusableKeyReason(key: KeyObject): string | undefined {
  const type = key.asymmetricKeyType;
  if (type !== "rsa" && type !== "rsa-pss" && type !== "ec") return `a ${type ?? "secret"} key, which verifies none of RS, PS and ES`;
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (type !== "ec" && (bits === undefined || bits < MIN_RSA_BITS)) return `an RSA key of ${bits} bits, shorter than ${MIN_RSA_BITS}`;
  return undefined;
}

/** One public key (or certificate) from a PEM file (JWT_PUBLIC_KEY_FILE). */
export function publicKeyFileSource(path: string): KeySource {
  let key: KeyObject;
  try {
    key = createPublicKey(readFileSync(path));
  } catch (err) {
    throw new KeysUnavailable(`JWT_PUBLIC_KEY_FILE: cannot read a public key from ${path}: ${(err as Error).message}`);
  }
  const unusable = unusableKeyReason(key);
  if (unusable !== undefined) throw new KeysUnavailable(`JWT_PUBLIC_KEY_FILE: ${path} holds ${unusable}`);
  return { keyFor: () => key, version: 0, close: () => {} };
}
