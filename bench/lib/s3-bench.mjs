// What the object-storage benchmarks share: the S3 environment check, the dataset of `elacsym bench`
// written to a scratch directory (NDJSON, schema, query vectors), and a fresh bucket on the server.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `root` is the checkout whose build (dist/) is used. Returns the scratch directory, the dataset's files,
 * the dataset module, and the name of a bucket created for this run.
 */
export async function s3BenchSetup(root, { docs, dim, tag }) {
  if (!process.env.ELACSYM_S3_ENDPOINT) {
    console.error('set the S3 environment first: eval "$(scripts/s3-server start)"');
    process.exit(2);
  }
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const dataset = await import(join(root, 'dist/bench/dataset.js'));
  const { S3ObjectStore } = await import(join(root, 'dist/objstore/s3.js'));
  const work = mkdtempSync(join(tmpdir(), `elacsym-${tag}-`));
  const input = join(work, 'data.ndjson');
  writeFileSync(input, `${[...dataset.generateDocs({ docs, dim })].map((d) => JSON.stringify(d)).join('\n')}\n`);
  const schema = join(work, 'schema.json');
  writeFileSync(schema, JSON.stringify(dataset.datasetSchema(dim)));
  const bucket = `elacsym-bench-${randomBytes(4).toString('hex')}`;
  await new S3ObjectStore({
    bucket,
    endpoint: process.env.ELACSYM_S3_ENDPOINT,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
  }).createBucket();
  return { work, input, schema, bucket, dataset };
}
