/**
 * A URL as it may appear in a log line or an error message: its password
 * replaced, and a URL that does not parse left out entirely (it may still
 * hold a password where a parser would not look for one).
 */
export function safeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "(a malformed URL, not shown)";
  }
  if (parsed.password !== "") parsed.password = "***";
  return parsed.href;
}
