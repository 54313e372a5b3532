// A separate writer process for the commit-race test: joins the namespace's writer epoch and commits
// COUNT versions, each appending its id to the payload's log; prints "won <version>" per commit and
// "lost <n>" (races lost, re-read and retried) at the end. Uses the built library (dist/), like bin/elacsym.
// Usage: node commit-racer.mjs <dir | s3:bucket> <prefix> <id> <count>   (S3 settings from the environment)
import { CommitLog, joinWriter } from '../../dist/objstore/commit.js';
import { LocalObjectStore } from '../../dist/objstore/local.js';
import { S3ObjectStore } from '../../dist/objstore/s3.js';

const [target, prefix, id, count] = process.argv.slice(2);
const store = target.startsWith('s3:')
  ? new S3ObjectStore({
      bucket: target.slice(3),
      endpoint: process.env.ELACSYM_S3_ENDPOINT,
      region: process.env.AWS_REGION,
      credentials: { accessKeyId: process.env.AWS_ACCESS_KEY_ID, secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY },
    })
  : new LocalObjectStore(target);
const log = new CommitLog(store, prefix);
const writer = await joinWriter(log);
// Both racers print "ready" and wait for one line on stdin: the test releases them together.
process.stdout.write('ready\n');
await new Promise((r) => process.stdin.once('data', r));
let lost = 0;
// Attempts per commit: more than the other racer's commits. Each lost attempt means the other racer
// created that version, so count + 1 attempts always suffice; the default (10) made the test depend on
// scheduling (a racer slowed by a busy machine could lose 10 races in a row and give up with BUSY).
const attempts = Number(count) + 1;
for (let i = 0; i < Number(count); i++) {
  const { record } = await writer.commit((latest) => {
    if (latest.version !== writer.version) lost++;
    return { log: [...latest.payload.log, id] };
  }, attempts);
  process.stdout.write(`won ${record.version}\n`);
}
process.stdout.write(`lost ${lost}\n`);
await store.close?.();
