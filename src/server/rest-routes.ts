import { getOption, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { http } from "../../gen/google/api/annotations_pb.js";

/** One REST route, read from an RPC's `google.api.http` annotation. */
export interface RestRoute {
  /** Upper-case HTTP method. */
  httpMethod: string;
  /** The annotation's path template, for messages and docs. */
  template: string;
  method: DescMethod;
  /** The annotation's body rule: "*" (whole request), a field name, or "" (no body). */
  body: string;
  /** Literal segments, or `{ field }` for a single-segment path variable. */
  segments: Array<string | { field: string }>;
}

/** The result of matching a request against the routes. */
export type RouteMatch =
  | { kind: "found"; route: RestRoute; pathParams: Record<string, string> }
  | { kind: "method-not-allowed"; allow: string[] }
  | { kind: "not-found" };

/**
 * The REST routes of a service, derived from its annotations, so annotating an
 * RPC is all it takes to give it a route. Throws at start-up on a template this
 * transcoder cannot serve rather than serving it wrong.
 */
export function restRoutes(service: DescService): RestRoute[] {
  const routes: RestRoute[] = [];
  for (const method of service.methods) {
    if (method.methodKind !== "unary") continue;
    const rule = getOption(method, http);
    const bindings = [rule, ...rule.additionalBindings];
    for (const binding of bindings) {
      const { case: verb, value } = binding.pattern;
      if (verb === undefined) continue;
      const [httpMethod, template] = verb === "custom" ? [value.kind.toUpperCase(), value.path] : [verb.toUpperCase(), value];
      routes.push({ httpMethod, template, method, body: binding.body, segments: parseTemplate(template, method) });
    }
  }
  return routes;
}

function parseTemplate(template: string, method: DescMethod): RestRoute["segments"] {
  if (!template.startsWith("/")) {
    throw new Error(`${method.parent.typeName}.${method.name}: http path "${template}" must start with "/"`);
  }
  return template
    .slice(1)
    .split("/")
    .map((segment) => {
      const variable = /^\{([a-z_][a-z0-9_]*)(?:=\*)?\}$/i.exec(segment);
      if (variable !== null) {
        const field = variable[1]!;
        if (method.input.fields.find((f) => f.name === field) === undefined) {
          throw new Error(`${method.parent.typeName}.${method.name}: path variable {${field}} names no request field`);
        }
        return { field };
      }
      if (/[{}*:]/.test(segment)) {
        throw new Error(`${method.parent.typeName}.${method.name}: path segment "${segment}" is not supported`);
      }
      return segment;
    });
}

/** Finds the route for a request; says which methods a path allows when only the method is wrong. */
export function matchRoute(routes: readonly RestRoute[], httpMethod: string, pathname: string): RouteMatch {
  const parts = pathname.slice(1).split("/");
  const allow: string[] = [];
  for (const route of routes) {
    const pathParams = matchSegments(route.segments, parts);
    if (pathParams === undefined) continue;
    if (route.httpMethod === httpMethod) return { kind: "found", route, pathParams };
    allow.push(route.httpMethod);
  }
  return allow.length > 0 ? { kind: "method-not-allowed", allow } : { kind: "not-found" };
}

function matchSegments(segments: RestRoute["segments"], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const part = parts[i]!;
    if (typeof segment === "string") {
      if (segment !== part) return undefined;
    } else {
      if (part === "") return undefined;
      try {
        params[segment.field] = decodeURIComponent(part);
      } catch {
        return undefined;
      }
    }
  }
  return params;
}
