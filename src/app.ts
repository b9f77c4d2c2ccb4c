import type { AddressInfo } from "node:net";
import type { Config } from "./config.js";
import { createVerifier } from "./jwt/verifier.js";
import { createServer } from "./server/create-server.js";
import { createTokenService } from "./service/token-service.js";
import { openStore } from "./store/open-store.js";
import type { RevocationStore } from "./store/revocation-store.js";

/** A running service: what main.ts starts, and what tests start in-process. */
export interface App {
  address: AddressInfo;
  store: RevocationStore;
  /** Stops accepting, lets in-flight requests finish (up to `deadlineMs`), closes the store. */
  close(deadlineMs?: number): Promise<void>;
}

/** Hooks for the embedding process. */
export interface AppHooks {
  /** Failures that are our fault; the message never holds token material. */
  onInternalError?: (err: unknown) => void;
}

/** Composes store, verifier, service and server from a config, and listens. */
export async function startApp(config: Config, hooks: AppHooks = {}): Promise<App> {
  const store = await openStore(config.store);
  try {
    const handlers = createTokenService({
      verifier: createVerifier(config.jwt),
      store,
      adminKey: config.adminKey,
      maxTokenBytes: config.jwt.maxTokenBytes,
    });
    const server = createServer({ handlers, onInternalError: hooks.onInternalError });
    const address = await server.listen(config.port, config.host);
    return {
      address,
      store,
      async close(deadlineMs) {
        await server.close(deadlineMs);
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
