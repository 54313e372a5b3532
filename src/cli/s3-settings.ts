/** S3 settings for commands that touch an object store: --s3-endpoint and the environment. */
import { ElacsymError } from '../errors.js';
import { isObjectStoreUrl } from '../objstore/object-store.js';
import type { S3Settings } from '../objstore/open.js';
import { deferredCaCertificates } from './extra-ca.js';

/** --s3-endpoint means something only with an s3:// data directory: anywhere else it is a mistake (USAGE). */
export function checkS3EndpointUse(o: Record<string, unknown>, dataDir: string): void {
  if (o.s3Endpoint !== undefined && !isObjectStoreUrl(dataDir)) throw new ElacsymError('USAGE', '--s3-endpoint applies to an s3:// data directory');
}

/** S3 settings from --s3-endpoint and the environment (the SDK reads the credentials itself). */
export function s3Settings(o: Record<string, unknown>): S3Settings {
  // The SDK warns on every process under Node 20 that its later releases need Node 22: noise on stderr
  // of a command whose stderr carries its errors. elacsym pins the SDK version, so the warning is moot.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = typeof o.s3Endpoint === 'string' ? o.s3Endpoint : process.env.ELACSYM_S3_ENDPOINT || undefined;
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || undefined;
  // NODE_EXTRA_CA_CERTS, when bin/elacsym kept Node from loading it at start-up (extra-ca.ts).
  const ca = deferredCaCertificates();
  return { ...(endpoint ? { endpoint } : {}), ...(region ? { region } : {}), ...(ca ? { ca } : {}) };
}
