/**
 * Byte bounds of writers, from the environment (documented in man elacsym, ENVIRONMENT).
 * ELACSYM_SEGMENT_BYTES bounds every segment flush and merge (import batches are cut at half of it); the
 * default suits real data, and tests lower it so that a few MB exercise the same code paths as gigabytes.
 */
import { ElacsymError } from '../errors.js';
import { DEFAULT_SEGMENT_BYTES } from '../store/writer.js';

export function segmentBytesFromEnv(): number {
  const raw = process.env.ELACSYM_SEGMENT_BYTES;
  if (raw === undefined || raw === '') return DEFAULT_SEGMENT_BYTES;
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1024 || !Number.isSafeInteger(Number(raw))) {
    throw new ElacsymError('USAGE', `ELACSYM_SEGMENT_BYTES must be a whole number of bytes, at least 1024 (got ${JSON.stringify(raw)})`);
  }
  return Number(raw);
}
