#!/usr/bin/env node
// The `token-blacklist` command: the compiled CLI (`npm run build` writes dist/).
await import("../dist/src/cli/main.js");
