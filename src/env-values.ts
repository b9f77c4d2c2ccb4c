import { ConfigError } from "./config-error.js";

/** The environment configuration is read from. */
export type Env = Readonly<Record<string, string | undefined>>;

// Typed readers of one variable each: a bad value throws a ConfigError that names the variable.

/** The variable's value, or undefined when it is unset or blank. */
export function nonEmpty(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** A comma-separated list, items trimmed, empty items dropped; undefined when unset. */
export function list(env: Env, name: string): string[] | undefined {
  const raw = nonEmpty(env, name);
  return raw
    ?.split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** A whole number from `min` to `max`, or `fallback` when unset. */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name}: expected a whole number from ${min} to ${max}, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(`${name}: expected a whole number from ${min} to ${max}, got ${value}`);
  }
  return value;
}

/** true/1 or false/0, or `fallback` when unset. */
export function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = nonEmpty(env, name)?.trim().toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === "true" || raw === "1") return true;
  if (raw === "false" || raw === "0") return false;
  throw new ConfigError(`${name}: expected true or false, got "${env[name]}"`);
}

/** One of `values` (exactly), or `fallback` when unset. */
export function oneOf<T extends string>(env: Env, name: string, values: readonly T[], fallback: T): T {
  const raw = nonEmpty(env, name)?.trim();
  if (raw === undefined) return fallback;
  if (!(values as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}: expected one of ${values.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}
