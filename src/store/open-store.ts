import type { Config } from "../config.js";
import { openRedisStore } from "./redis-store.js";
import type { RevocationStore } from "./revocation-store.js";
import { openSqliteStore } from "./sqlite-store.js";

/** Opens the store the configuration names: Redis when REDIS_URL is set, else SQLite. `onWarning` hears what an operator should know. */
export async function openStore(config: Config["store"], onWarning?: (message: string) => void): Promise<RevocationStore> {
  return config.kind === "redis"
    ? openRedisStore({ ...config, ...(onWarning === undefined ? {} : { onWarning }) })
    : openSqliteStore(config);
}
