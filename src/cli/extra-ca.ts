/**
 * The certificate authorities of NODE_EXTRA_CA_CERTS, for the object store's HTTPS connections, when Node
 * did not load them at start-up.
 *
 * Why they are deferred: Node parses the file named by NODE_EXTRA_CA_CERTS at every start, before any script
 * runs (a system bundle of ~140 certificates cost ~60 ms of a ~125 ms `node -e 0` on the 2-vCPU VM,
 * docs/performance.md, "Session 32"), and only an `s3://` data directory over TLS ever uses them. So
 * bin/elacsym's sh lines move the variable to DEFERRED_CA_VAR before they exec Node, and its JavaScript
 * puts NODE_EXTRA_CA_CERTS back into `process.env` (child processes see the caller's environment as it was).
 * A process that was started that way has both variables, equal; this module then gives the S3 client
 * (through S3Settings.ca) the same trust Node would have had: its bundled root certificates plus the file's.
 * Here in cli/ because it reads the environment and may print a warning, which the core never does.
 *
 * Node 20 has no way to add certificates to the default store after start-up (tls.setDefaultCACertificates
 * is Node 22.15+), hence an explicit `ca` on the client's HTTPS agent; the SDK's nested clients (STS for
 * web identity and role credentials) inherit that request handler from the S3 client.
 */
import { readFileSync } from 'node:fs';

/** Set by bin/elacsym to the NODE_EXTRA_CA_CERTS it moved aside (a private variable: not for users). */
export const DEFERRED_CA_VAR = 'ELACSYM_DEFERRED_NODE_EXTRA_CA_CERTS';

let loaded: { file: string; ca: string[] | undefined } | undefined;

/** Node's own words at start-up for a file it cannot load, on stderr. */
const nodeWarning = (file: string, e: unknown) => process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}\n`);

/**
 * The CA list for an HTTPS agent ([...Node's bundled roots, the file's PEM text]) when this process was
 * started with NODE_EXTRA_CA_CERTS deferred; undefined otherwise (Node's default store applies, with the
 * extra certificates in it if Node loaded them itself). Read once per process.
 *
 * A file that cannot be read is ignored with the warning Node gives at start-up for the same case
 * ("Ignoring extra certs from ..."), so elacsym trusts exactly what `node` would.
 */
export function deferredCaCertificates(env: NodeJS.ProcessEnv = process.env, warn: (file: string, e: unknown) => void = nodeWarning): string[] | undefined {
  const file = env[DEFERRED_CA_VAR];
  // Both equal: the launcher moved it and put it back. Otherwise somebody changed the environment since
  // (bench's runs without the variable remove NODE_EXTRA_CA_CERTS only): then it is not ours to apply.
  if (!file || env.NODE_EXTRA_CA_CERTS !== file) return undefined;
  if (loaded?.file === file) return loaded.ca;
  let ca: string[] | undefined;
  try {
    // node:tls only here: this module is imported by every command that may open a store (query
    // included), and loading tls at import brought crypto and ~20 more modules into every cold query.
    ca = [...process.getBuiltinModule('node:tls').rootCertificates, readFileSync(file, 'latin1')];
  } catch (e) {
    warn(file, e);
    ca = undefined;
  }
  loaded = { file, ca };
  return ca;
}
