import { OPENAPI_PATH } from "../../src/server/openapi-document.js";
import type { PathItems } from "./common-components.js";
import { type Schema, schemaRef } from "./proto-schemas.js";

const TAG = "Operations";

/** One probe-like route: GET with its answers, and HEAD with the same statuses and no body. */
function getAndHead(operationId: string, summary: string, description: string, responses: Record<string, Schema>): Record<string, Schema> {
  const bodiless = Object.fromEntries(
    Object.entries(responses).map(([status, response]) => [status, { description: `${response.description} (GET's headers, no body)` }]),
  );
  return {
    get: { tags: [TAG], operationId, summary, description, responses },
    head: { tags: [TAG], operationId: `${operationId}Head`, summary: `${summary} Headers only.`, responses: bodiless },
  };
}

const json = (description: string, schema: Schema): Schema => ({ description, content: { "application/json": { schema } } });

/**
 * The routes of src/server/operational-routes.ts: the probes, the metrics and
 * this document, each with GET and HEAD.
 */
export function operationalPaths(): { paths: PathItems; schemas: Record<string, Schema> } {
  const schemas: Record<string, Schema> = {
    Health: {
      type: "object",
      description: "The process is up.",
      properties: { status: { type: "string", const: "ok" } },
      required: ["status"],
    },
    Readiness: {
      type: "object",
      description: "Whether the revocation store takes writes (and the process is not shutting down).",
      properties: {
        status: { type: "string", enum: ["ready", "unavailable"] },
        info: { type: "string", description: "Why it is not ready." },
      },
      required: ["status"],
    },
    ProbeError: {
      type: "object",
      description: "The metrics could not be gathered: `error`, or `unavailable` for now (WORKERS=N: a worker did not answer).",
      properties: { status: { type: "string", enum: ["error", "unavailable"] }, info: { type: "string" } },
      required: ["status", "info"],
    },
  };
  const paths: PathItems = {
    "/healthz": getAndHead("Healthz", "Liveness.", "200 while the process runs: restart it if this does not answer.", {
      "200": json("The process is up.", schemaRef("Health")),
    }),
    "/readyz": getAndHead(
      "Readyz",
      "Readiness.",
      "200 while the revocation store takes writes; 503 while it does not, and from SIGTERM on: take the instance out of rotation.",
      {
        "200": json("Ready.", schemaRef("Readiness")),
        "503": json("Not ready.", schemaRef("Readiness")),
      },
    ),
    "/metrics": getAndHead("Metrics", "Prometheus metrics.", "The Prometheus text exposition: Node's process metrics and the service's.", {
      "200": { description: "The metrics.", content: { "text/plain": { schema: { type: "string" } } } },
      "500": json("The metrics could not be gathered.", schemaRef("ProbeError")),
      "503": json("The metrics cannot be gathered for now; retry.", schemaRef("ProbeError")),
    }),
    [OPENAPI_PATH]: getAndHead("OpenApi", "This document.", "The OpenAPI 3.1 document of the HTTP routes (openapi/openapi.json).", {
      "200": json("The document.", { type: "object" }),
    }),
  };
  return { paths, schemas };
}
