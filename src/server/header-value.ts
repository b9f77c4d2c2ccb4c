/** One header as a string, as `Headers.get` gives it: repeated values joined with ", ", absent as null. */
export function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}
