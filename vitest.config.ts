import { defineConfig } from "vitest/config";

/**
 * Three tiers, each runnable alone:
 * - unit: the rules in-process (connect-es's router transport, SQLite in a temp dir), seconds;
 * - integration: real sockets, real redis-server processes, real clients (`npm test` runs both);
 * - bench: a brief run of `npm run bench`, which needs h2load (`npm run test:bench`);
 * - resilience: attacks and faults against `npm start` in its own process, one file at a
 *   time so their timings stay their own (`npm run test:resilience`).
 */
export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Each file starts its own servers (and redis-server) on free ports.
    pool: "forks",
    projects: [
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      { extends: true, test: { name: "integration", include: ["test/*.test.ts"] } },
      { extends: true, test: { name: "bench", include: ["test/bench/**/*.test.ts"] } },
      { extends: true, test: { name: "resilience", include: ["test/resilience/**/*.test.ts"], fileParallelism: false } },
    ],
  },
});
