import { createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { safeUrl } from "../safe-url.js";
import { KeysUnavailable, unusableKeyReason, type KeySource } from "./key-source.js";
import { TokenRejected } from "./token-rejected.js";

/** Options for {@link openJwksKeySource}. */
export interface JwksOptions {
  url: string;
  /** Keys are refetched this often in the background, so rotations are picked up. */
  refreshSeconds: number;
  /**
   * A token with an unknown `kid` triggers a refetch at most this often, so a
   * flood of made-up `kid`s cannot turn into a flood of requests to the issuer.
   */
  minRefetchSeconds: number;
  /** Deadline for one fetch. */
  timeoutMs?: number;
}

/**
 * Public keys from a JWKS URL (JWT_JWKS_URL), selected by `kid`. The first
 * fetch must succeed (start-up fails otherwise, naming the URL); later
 * failures keep the last good keys. Symmetric (`oct`) keys are ignored: a
 * JWKS is public, so a secret in it would let anyone sign.
 */
export async function openJwksKeySource(options: JwksOptions): Promise<KeySource> {
  let keys = new Map<string, KeyObject>();
  let version = 0;
  let lastFetch = 0;
  let inFlight: Promise<void> | undefined;

  const refetch = (): Promise<void> => {
    inFlight ??= fetchKeys(options)
      .then((fresh) => {
        if (!sameKeys(keys, fresh)) version++;
        keys = fresh;
      })
      .finally(() => {
        lastFetch = Date.now();
        inFlight = undefined;
      });
    return inFlight;
  };

  await refetch();
  const timer = setInterval(() => refetch().catch(() => {}), options.refreshSeconds * 1000);
  timer.unref();

  const pick = (kid: string | undefined): KeyObject | undefined => {
    if (kid !== undefined) return keys.get(kid);
    // No kid: acceptable only when there is exactly one key to choose.
    return keys.size === 1 ? keys.values().next().value : undefined;
  };

  return {
    keyFor(header) {
      const key = pick(header.kid);
      if (key !== undefined) return key;
      if (Date.now() - lastFetch < options.minRefetchSeconds * 1000) throw unknownKey(header.kid);
      return refetch().then(
        () => pick(header.kid) ?? Promise.reject(unknownKey(header.kid)),
        () => Promise.reject(new KeysUnavailable("JWKS endpoint unavailable")),
      );
    },
    get version() {
      return version;
    },
    close: () => clearInterval(timer),
  };
}

/** Whether two key sets hold the same keys under the same ids. */
function sameKeys(a: Map<string, KeyObject>, b: Map<string, KeyObject>): boolean {
  if (a.size !== b.size) return false;
  for (const [kid, key] of a) {
    const other = b.get(kid);
    if (other === undefined || !other.equals(key)) return false;
  }
  return true;
}

function unknownKey(kid: string | undefined): TokenRejected {
  return new TokenRejected(
    "KEY_NOT_FOUND",
    kid === undefined ? "Token has no kid and the key set holds several keys" : "Token key id (kid) is not in the issuer's key set",
  );
}

async function fetchKeys(options: JwksOptions): Promise<Map<string, KeyObject>> {
  let body: unknown;
  try {
    // fetch refuses URLs with credentials: they travel as Basic auth instead.
    const url = new URL(options.url);
    const headers: Record<string, string> = {};
    if (url.username !== "" || url.password !== "") {
      const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
      headers.authorization = `Basic ${Buffer.from(credentials).toString("base64")}`;
      url.username = "";
      url.password = "";
    }
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 5000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw new KeysUnavailable(`JWT_JWKS_URL: cannot fetch ${safeUrl(options.url)}: ${(err as Error).message}`);
  }
  const list = (body as { keys?: unknown }).keys;
  if (!Array.isArray(list)) throw new KeysUnavailable(`JWT_JWKS_URL: ${safeUrl(options.url)} has no "keys" array`);
  const keys = new Map<string, KeyObject>();
  list.forEach((jwk: JsonWebKey & { kid?: string; use?: string }, index) => {
    if (typeof jwk !== "object" || jwk === null || jwk.kty === "oct") return;
    if (jwk.use !== undefined && jwk.use !== "sig") return;
    try {
      const key = createPublicKey({ key: jwk, format: "jwk" });
      // A key we cannot use (or should not: a short RSA key) is skipped; the others still serve.
      if (unusableKeyReason(key) === undefined) keys.set(jwk.kid ?? `#${index}`, key);
    } catch {
      // Not a key at all: skipped too.
    }
  });
  return keys;
}
