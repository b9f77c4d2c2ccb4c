/**
 * Imported first by the entry point: on a Node older than `engines` allows
 * (this kind of machine ships Node 20, which crashes on the dependencies
 * with a bare "Segmentation fault"), it stops with a message that says what
 * to do, before anything else loads.
 */

/** Why Node `version` cannot run the service, or undefined when it can. */
export function unsupportedNode(version: string): string | undefined {
  if (Number(version.split(".")[0]) >= 22) return undefined;
  return (
    `token-blacklist needs Node 22 or newer; this is Node ${version}. ` +
    "Install Node 24, or run `. scripts/use-node.sh` first (it puts Node 24 from npm on PATH), then `npm ci && npm start`"
  );
}

const refusal = unsupportedNode(process.versions.node);
if (refusal !== undefined) {
  process.stderr.write(`${refusal}\n`);
  process.exit(1);
}
