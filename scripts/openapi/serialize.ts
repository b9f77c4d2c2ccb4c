/** The document as committed: two-space JSON and a trailing newline, keys in the order the builder put them. */
export const serializeOpenApi = (document: unknown): string => `${JSON.stringify(document, null, 2)}\n`;
