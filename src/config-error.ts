/** A configuration problem, reported at start-up instead of a stack trace. A leaf, so every part of the configuration can throw it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
