/** The part of a Node HTTP/1 or HTTP/2 request a body reader needs. */
export interface BodySource {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  removeAllListeners(event: "data"): unknown;
  resume(): unknown;
}

/**
 * Reads a request body up to `maxBytes`. Past that it stops collecting,
 * drains the rest unread, and rejects with `tooLarge()`, so a huge body costs
 * neither memory nor a crash.
 */
export function readBody(req: BodySource, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
