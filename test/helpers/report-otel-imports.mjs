// Preloaded with `node --import` (NODE_OPTIONS): reports on stderr each OpenTelemetry module the process
// resolves, so a test can tell whether the service loaded the SDK at all.
import { registerHooks } from "node:module";

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.startsWith("@opentelemetry/")) process.stderr.write(`otel-import ${specifier}\n`);
    return nextResolve(specifier, context);
  },
});
