/**
 * NODE_EXTRA_CA_CERTS through bin/elacsym: the launcher keeps Node from parsing the file at start-up (a local
 * command never needs it) and the S3 client loads it when it connects over TLS (src/cli/extra-ca.ts).
 *
 * The store: the real S3 server (radosgw) behind a TLS terminator on an ephemeral loopback port, with a
 * certificate signed by a certificate authority made for this test (openssl). Only a client that trusts
 * that authority, through NODE_EXTRA_CA_CERTS, can talk to it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, LAUNCHER, launcherEnv, runFile, tmpDir, writeNdjson } from '../../helpers/cli.js';
import { docs, forwarder } from '../../helpers/published-fixtures.js';
import { freshS3Store, type S3Env } from '../../helpers/s3.js';

afterAll(cleanupTmp);

/** The caller's environment for the launcher, without NODE_EXTRA_CA_CERTS and NODE_OPTIONS, plus `extra`. */
const baseEnv = (extra: Record<string, string> = {}) => launcherEnv(extra, ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS']);

describe('NODE_EXTRA_CA_CERTS', () => {
  it('is not parsed at start-up by a command run through the launcher (node warns about a missing file; the launcher runs no such parse)', async () => {
    const missing = join(tmpDir(), 'no-such-bundle.pem');
    const env = baseEnv({ NODE_EXTRA_CA_CERTS: missing });
    const direct = await runFile(process.execPath, [LAUNCHER, '--version'], env);
    expect(direct.code).toBe(0);
    expect(direct.stderr).toContain(`Ignoring extra certs from \`${missing}\``); // Node itself read it
    const launched = await runFile(LAUNCHER, ['--version'], env);
    expect(launched.code).toBe(0);
    expect(launched.stderr).toBe('');
    // A writing command runs as well with the variable set aside.
    const d = join(tmpDir(), 'data');
    const child = await runFile(LAUNCHER, ['-d', d, 'init', 'ns', '--text-only'], env);
    expect(child.code).toBe(0);
    // NODE_OPTIONS=--use-openssl-ca: the default store is OpenSSL's then, so the launcher leaves the variable to Node.
    const openssl = await runFile(LAUNCHER, ['--version'], { ...env, NODE_OPTIONS: '--use-openssl-ca' });
    expect(openssl.code).toBe(0);
    expect(openssl.stderr).toContain('Ignoring extra certs from');
  });

  describe('over TLS to the real S3 server', () => {
    let s3: S3Env;
    let bucket: string;
    let tls: Awaited<ReturnType<typeof forwarder>> | undefined;
    let endpoint: string;
    let caFile: string;

    beforeAll(async () => {
      ({ env: s3, bucket } = await freshS3Store('tls'));
      // A certificate authority of this test and a server certificate for 127.0.0.1 signed by it.
      const dir = tmpDir('elacsym-tls-');
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=elacsym test CA');
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
      writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
      ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
      caFile = join(dir, 'ca.pem');
      // TLS in front of radosgw: the bytes inside are the client's own HTTP requests, Host header and
      // signatures unchanged.
      tls = await forwarder(s3.ELACSYM_S3_ENDPOINT, { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.pem')) });
      endpoint = tls.endpoint;
    }, 300_000);

    afterAll(async () => {
      await tls?.cut();
    });

    const s3vars = (extra: Record<string, string> = {}) =>
      baseEnv({
        AWS_ACCESS_KEY_ID: s3.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: s3.AWS_SECRET_ACCESS_KEY,
        AWS_REGION: s3.AWS_REGION,
        ELACSYM_S3_ENDPOINT: endpoint,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...extra,
      });

    it('without the authority, the store is refused: STORE_CERTIFICATE (exit 77, not an outage to retry), nothing is written', async () => {
      const r = await runFile(LAUNCHER, ['-d', `s3://${bucket}/untrusted`, '--json', 'init', 'ns', '--text-only'], s3vars());
      expect(r.code).toBe(77);
      const err = JSON.parse(r.stderr.trim().split('\n').pop()!) as { error: { code: string; message: string; hint: string } };
      expect(err.error.code).toBe('STORE_CERTIFICATE');
      expect(err.error.message).toMatch(/TLS certificate is not trusted/);
      expect(err.error.hint).toContain('NODE_EXTRA_CA_CERTS');
      const list = await runFile(LAUNCHER, ['-d', `s3://${bucket}/untrusted`, 'namespaces'], s3vars({ NODE_EXTRA_CA_CERTS: caFile }));
      expect(list.code).toBe(0);
      expect(list.stdout.trim()).toBe('');
    });

    it('with NODE_EXTRA_CA_CERTS, through the launcher: doctor, init, import and a query (the store worker reads over TLS too)', async () => {
      const env = s3vars({ NODE_EXTRA_CA_CERTS: caFile });
      const doctor = await runFile(LAUNCHER, ['doctor', `s3://${bucket}/checked`, '--json'], env);
      expect(doctor.stderr).toBe('');
      expect(doctor.code).toBe(0);
      const d = `s3://${bucket}/trusted`;
      expect((await runFile(LAUNCHER, ['-d', d, 'init', 'ns', '--dim', '4'], env)).code).toBe(0);
      const file = join(tmpDir(), 'docs.ndjson');
      writeNdjson(file, docs(0, 50));
      const imp = await runFile(LAUNCHER, ['-d', d, 'import', 'ns', file], env);
      expect(imp.stderr).not.toMatch(/error/);
      expect(imp.code).toBe(0);
      const q = await runFile(LAUNCHER, ['-d', d, 'query', 'ns', '--vector', '[0.3,0.9,0.2,2]', '--top-k', '3', '--format', 'json'], env);
      expect(q.code).toBe(0);
      expect((JSON.parse(q.stdout) as { results: unknown[] }).results).toHaveLength(3);
      // The same through `node bin/elacsym`, where Node loads the file itself at start-up.
      const direct = await runFile(process.execPath, [LAUNCHER, '-d', d, 'count', 'ns'], env);
      expect(direct.code).toBe(0);
      expect(direct.stdout.trim()).toBe('50');
    });

    it('a deferred file that cannot be read is ignored with the warning Node gives, and the store is then refused', async () => {
      const missing = join(tmpDir(), 'gone.pem');
      const r = await runFile(LAUNCHER, ['doctor', `s3://${bucket}/missing-ca`], s3vars({ NODE_EXTRA_CA_CERTS: missing }));
      expect(r.code).toBe(77);
      expect(r.stderr).toContain(`Ignoring extra certs from \`${missing}\``);
      expect(r.stderr).toContain('error[STORE_CERTIFICATE]');
    });
  });
});
