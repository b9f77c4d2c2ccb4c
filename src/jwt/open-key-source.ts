import type { KeyConfig } from "../config.js";
import { openJwksKeySource } from "./jwks.js";
import { publicKeyFileSource, secretKeySource, type KeySource } from "./key-source.js";

/** Opens the key source the configuration names; a JWKS source fetches its keys first. */
export async function openKeySource(config: KeyConfig): Promise<KeySource> {
  switch (config.kind) {
    case "secret":
      return secretKeySource(config.secret);
    case "public-key-file":
      return publicKeyFileSource(config.path);
    case "jwks":
      return openJwksKeySource(config);
  }
}
