import { describe, expect, it } from "vitest";
import { unsupportedNode } from "../../src/supported-node.js";

describe("the entry point's Node version check", () => {
  it("refuses Node older than 22 with what to do, and lets 22 and newer through", () => {
    expect(unsupportedNode("20.20.2")).toMatch(/^token-blacklist needs Node 22 or newer; this is Node 20\.20\.2\. .*scripts\/use-node\.sh/);
    expect(unsupportedNode("18.0.0")).toBeDefined();
    expect(unsupportedNode("22.0.0")).toBeUndefined();
    expect(unsupportedNode("24.22.3")).toBeUndefined();
  });
});
