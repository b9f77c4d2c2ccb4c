import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A self-signed certificate for localhost and 127.0.0.1, made by openssl for one test file. */
export interface TestCert {
  certFile: string;
  keyFile: string;
  /** The certificate, for clients to trust. */
  ca: Buffer;
  remove(): void;
}

export function makeTestCert(): TestCert {
  const dir = mkdtempSync(join(tmpdir(), "tb-cert-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost"].concat([
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ]),
    { stdio: "ignore" },
  );
  return { certFile, keyFile, ca: readFileSync(certFile), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
