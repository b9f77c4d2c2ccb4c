/**
 * A checker in a process of its own, for the propagation benchmark: for
 * each token read from stdin it answers "watching", then checks the token
 * in a loop until the checker refuses it, and prints the wall-clock time of
 * the refusal (epoch ms, fractional). Argument: the service's base URL; env:
 * FEED_KEY, JWT_SECRET, JWT_ISSUER.
 */
import { createInterface } from "node:readline";
import { createTokenChecker } from "../src/client/index.js";

const checker = await createTokenChecker({
  baseUrl: process.argv[2]!,
  feedKey: process.env.FEED_KEY!,
  jwt: { secret: process.env.JWT_SECRET!, issuer: process.env.JWT_ISSUER! },
});
await checker.ready();
const now = () => performance.timeOrigin + performance.now();
console.log("ready");
for await (const token of createInterface({ input: process.stdin })) {
  if ((await checker.check(token)).valid !== true) {
    console.log("error: valid token refused before its revocation");
    continue;
  }
  console.log("watching");
  while ((await checker.check(token)).valid) await new Promise((resolve) => setImmediate(resolve));
  console.log(`refused ${now()}`);
}
await checker.close();
