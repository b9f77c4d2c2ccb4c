#!/usr/bin/env node
// The `token-blacklist` command. The sources are TypeScript, loaded through tsx.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
