/**
 * `elacsym serve` over real HTTP: the ancestor's four routes with its request bodies, every new route,
 * the error table's HTTP statuses, auth, limits and /metrics under a strict parser.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTmp, cli, ROOT, tmpDir } from '../helpers/cli.js';
import { json, parsePrometheus, post, type Served, serve } from './serve-helpers.js';

const QS = join(ROOT, 'fixtures', 'quickstart');
const SCHEMA = JSON.parse(readFileSync(join(QS, 'schema.json'), 'utf8')) as Record<string, unknown>;
const QVEC = JSON.parse(readFileSync(join(QS, 'query-vector.json'), 'utf8')) as number[];
const DOCS = readFileSync(join(QS, 'docs.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: number; vector: number[]; attributes: Record<string, unknown> });

let d: string;
let s: Served;
beforeAll(async () => {
  d = join(tmpDir(), 'data');
  // A new, empty data directory: created first (serve refuses a missing one), its namespaces by PUT.
  mkdirSync(d);
  s = await serve(d, ['--workers', '2', '--max-body-bytes', '65536', '--max-line-bytes', '4096']);
});
afterAll(async () => {
  expect(await s.stop()).toBe(0);
  cleanupTmp();
});

describe('the ancestor routes, with its request and response shapes', () => {
  it('PUT creates a namespace (409 if it exists), upsert acknowledges, query answers like query --request', async () => {
    const put = await fetch(`${s.url}/v1/namespaces/qs`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema: SCHEMA }) });
    expect(put.status).toBe(200);
    expect((await json(put)).namespace).toBe('qs');
    const again = await fetch(`${s.url}/v1/namespaces/qs`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema: SCHEMA }) });
    expect(again.status).toBe(409);
    expect((await json(again)).error.code).toBe('NAMESPACE_EXISTS');

    const up = await post(`${s.url}/v1/namespaces/qs/upsert`, { documents: DOCS.slice(0, 50) });
    expect(up.status).toBe(200);
    expect(await json(up)).toMatchObject({ namespace: 'qs', upserted: 50, inserted: 50 });
    for (let i = 50; i < DOCS.length; i += 50) {
      const more = await post(`${s.url}/v1/namespaces/qs/upsert`, { documents: DOCS.slice(i, i + 50) });
      expect((await json(more)).upserted).toBe(Math.min(50, DOCS.length - i));
    }

    // the same request through the CLI and through HTTP: the same results
    const req = { vector: QVEC, full_text: { query: 'water plant' }, filter: { field: 'bucket', op: 'lt', value: 50 }, top_k: 5 };
    const reqFile = join(tmpDir(), 'req.json');
    writeFileSync(reqFile, JSON.stringify(req));
    const viaCli = JSON.parse((await cli(['-d', d, 'query', 'qs', '--request', reqFile, '--format', 'json'])).stdout) as { results: unknown[] };
    const q = await post(`${s.url}/v1/namespaces/qs/query`, req);
    expect(q.status).toBe(200);
    expect((await json(q)).results).toEqual(viaCli.results);
  });

  it('takes the vector search accuracy settings of a request: exact as query --exact, a bad nprobe 400', async () => {
    const viaCli = await cli(['-d', d, 'query', 'qs', '--vector', JSON.stringify(QVEC), '--exact', '--top-k', '7', '--format', 'json']);
    expect(viaCli.code, viaCli.stderr).toBe(0);
    const exact = await post(`${s.url}/v1/namespaces/qs/query`, { vector: QVEC, exact: true, top_k: 7 });
    expect(exact.status).toBe(200);
    expect((await json(exact)).results).toEqual((JSON.parse(viaCli.stdout) as { results: unknown[] }).results);
    const probed = await post(`${s.url}/v1/namespaces/qs/query`, { vector: QVEC, nprobe: 2, top_k: 7 });
    expect(probed.status).toBe(200);
    expect((await json(probed)).results).toHaveLength(7);
    for (const [body, message] of [
      [{ vector: QVEC, nprobe: 0 }, 'request.nprobe: expected an integer between 1 and 65536'],
      [{ exact: true, full_text: { query: 'water' } }, 'request.exact: applies to vector search'],
    ] as const) {
      const r = await post(`${s.url}/v1/namespaces/qs/query`, body);
      expect(r.status).toBe(400);
      const b = await json(r);
      expect(b.error.code).toBe('INVALID_QUERY');
      expect(b.error.message).toContain(message);
    }
  });

  it('a vector of the wrong length is 400 INVALID_QUERY, not 500', async () => {
    const r = await post(`${s.url}/v1/namespaces/qs/query`, { vector: [1, 2, 3] });
    expect(r.status).toBe(400);
    const b = await json(r);
    expect(b.error.code).toBe('INVALID_QUERY');
    expect(typeof b.error.message).toBe('string');
    expect(typeof b.error.hint).toBe('string');
  });

  it('a document with the wrong vector length is 400 INVALID_DOCUMENT and nothing of the request is written', async () => {
    const r = await post(`${s.url}/v1/namespaces/qs/upsert`, { documents: [{ id: 9001, vector: QVEC }, { id: 9002, vector: [1] }] });
    expect(r.status).toBe(400);
    const e = (await json(r)).error as { code: string; message: string; hint: string };
    expect(e.code).toBe('INVALID_DOCUMENT');
    // In the request's terms: documents[1], not "line 2", and no ?skip_lines / ?on_error the route does not take.
    expect(e.message).toMatch(/^documents\[1\], field vector: expected \d+ numbers, got 1; nothing was written/);
    expect(e.hint).toBe('fix documents[1] and send the request again');
    expect((await fetch(`${s.url}/v1/namespaces/qs/documents/9001`)).status).toBe(404);
  });

  it('GET /health answers 200 with the findings of `elacsym health --json`', async () => {
    const r = await fetch(`${s.url}/health`);
    expect(r.status).toBe(200);
    const b = await json(r);
    const viaCli = JSON.parse((await cli(['-d', d, 'health', '--json'])).stdout) as { status: string; namespaces: { namespace: string; status: string }[] };
    expect(b.status).toBe(viaCli.status);
    expect(b.namespaces.map((n: { namespace: string; status: string }) => [n.namespace, n.status])).toEqual(viaCli.namespaces.map((n) => [n.namespace, n.status]));
    // its parameters are checked: a typo is 400, not a silent default (?deep=yes answered 200 healthy)
    for (const q of ['deep=yes', 'dep=1', 'max_backlog=abc', 'max_backlog=-1']) {
      const bad = await fetch(`${s.url}/health?${q}`);
      expect(bad.status, q).toBe(400);
      expect((await json(bad)).error.code, q).toBe('USAGE');
    }
    for (const q of ['deep=1', 'deep=true', 'deep=0', 'max_backlog=100']) expect((await fetch(`${s.url}/health?${q}`)).status, q).toBe(200);
  });
});

describe('the new routes', () => {
  it('lists namespaces with counts and describes one', async () => {
    const l = await json(await fetch(`${s.url}/v1/namespaces`));
    expect(l.namespaces).toContainEqual(expect.objectContaining({ namespace: 'qs', documents: DOCS.length }));
    const desc = await json(await fetch(`${s.url}/v1/namespaces/qs`));
    const viaCli = JSON.parse((await cli(['-d', d, 'describe', 'qs', '--json'])).stdout) as Record<string, unknown>;
    expect(desc.counts).toEqual(viaCli.counts);
    expect(desc.schema ?? desc.attributes).toEqual(viaCli.schema ?? viaCli.attributes);
  });

  it('accepts "__proto__" and "constructor" as attribute names in JSON bodies, like CLI import', async () => {
    const doc = { id: 'proto', vector: DOCS[0]!.vector, attributes: { __proto__: 'x', constructor: 'y' } };
    // JSON text, not an object literal: a literal's __proto__ would set the prototype instead of a key.
    const body = `{"documents":[{"id":"proto","vector":${JSON.stringify(doc.vector)},"attributes":{"__proto__":"x","constructor":"y"}}]}`;
    const up = await fetch(`${s.url}/v1/namespaces/qs/upsert`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(up.status, await up.clone().text()).toBe(200);
    const got = await fetch(`${s.url}/v1/namespaces/qs/documents/proto`);
    expect(got.status).toBe(200);
    const text = await got.text();
    expect(text).toContain('"__proto__":"x"');
    expect(text).toContain('"constructor":"y"');
    const del = await fetch(`${s.url}/v1/namespaces/qs/delete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ids":["proto"]}' });
    expect(del.status).toBe(200);
  });

  it('fetches a document by id in the import shape; 404 DOCUMENT_NOT_FOUND otherwise', async () => {
    const r = await fetch(`${s.url}/v1/namespaces/qs/documents/3`);
    expect(r.status).toBe(200);
    const got = (await r.json()) as { id: number; vector: number[]; attributes: unknown };
    // vectors are stored as float32 and printed with the shortest decimals that read back the same
    expect({ ...got, vector: got.vector.map(Math.fround) }).toEqual({ ...DOCS[3], vector: DOCS[3]!.vector.map(Math.fround) });
    const miss = await fetch(`${s.url}/v1/namespaces/qs/documents/${encodeURIComponent('"3"')}`);
    expect(miss.status).toBe(404);
    const missErr = (await json(miss)).error;
    expect(missErr.code).toBe('DOCUMENT_NOT_FOUND');
    expect(missErr.hint).not.toMatch(/stdout/); // no CLI wording over HTTP
    const nons = await fetch(`${s.url}/v1/namespaces/nope/documents/3`);
    expect(nons.status).toBe(404);
    const nonsErr = (await json(nons)).error;
    expect(nonsErr.code).toBe('NAMESPACE_NOT_FOUND');
    // Over HTTP: routes, not CLI commands; and never the server's own paths.
    expect(nonsErr.hint).toContain('GET /v1/namespaces');
    expect(`${nonsErr.message} ${nonsErr.hint}`).not.toMatch(/`elacsym |--[a-z]/);
    expect(`${nonsErr.message} ${nonsErr.hint}`).not.toContain(d);
    const badQuery = await post(`${s.url}/v1/namespaces/qs/query`, { top_k: 0 });
    expect(badQuery.status).toBe(400);
    const badQueryErr = (await json(badQuery)).error;
    expect(`${badQueryErr.message} ${badQueryErr.hint}`).not.toMatch(/`elacsym |<command>/);
  });

  it('streams an NDJSON import with a per-line report (on_error=skip) and exports what the CLI exports', async () => {
    await fetch(`${s.url}/v1/namespaces/imp`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ schema: SCHEMA }) });
    const lines = DOCS.slice(0, 50).map((x) => JSON.stringify(x));
    lines.splice(10, 0, 'not json', JSON.stringify({ id: 'v', vector: [1] }));
    const r = await fetch(`${s.url}/v1/namespaces/imp/import?on_error=skip&batch_size=16`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${lines.join('\n')}\n` });
    expect(r.status).toBe(200);
    const events = (await r.text()).trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(events.filter((e) => e.event === 'rejected').map((e) => e.line)).toEqual([11, 12]);
    expect(events.some((e) => e.event === 'committed')).toBe(true);
    expect(events.at(-1)).toMatchObject({ event: 'done', committed: 50, rejected: 2 });

    const exp = await fetch(`${s.url}/v1/namespaces/imp/export`);
    expect(exp.headers.get('content-type')).toMatch(/x-ndjson/);
    expect(await exp.text()).toBe((await cli(['-d', d, 'export', 'imp'])).stdout);
  });

  it('an import with on_error=fail stops at the first bad line: 400 INVALID_DOCUMENT naming it', async () => {
    const body = `${JSON.stringify(DOCS[0])}\n{"id":\n`;
    const r = await fetch(`${s.url}/v1/namespaces/imp/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    expect(r.status).toBe(400);
    const b = await json(r);
    expect(b.error.code).toBe('INVALID_DOCUMENT');
    expect(b.error.line).toBe(2);
    // The hint speaks HTTP: the route's query parameters, not the CLI's flags.
    expect(b.error.hint).toContain('?skip_lines=0');
    expect(b.error.hint).toContain('on_error=skip');
    expect(`${b.error.message} ${b.error.hint}`).not.toMatch(/--[a-z]|lines 1-0/);
  });

  it('an import with an unknown query parameter is 400 USAGE and imports nothing (a misspelt skip_lines)', async () => {
    const before = (await cli(['-d', d, 'count', 'imp'])).stdout;
    const r = await fetch(`${s.url}/v1/namespaces/imp/import?skip_line=3`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${JSON.stringify({ ...DOCS[0], id: 'typo' })}\n` });
    expect(r.status).toBe(400);
    const e = (await json(r)).error;
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('skip_line');
    expect(e.hint).not.toMatch(/<command>/);
    expect((await cli(['-d', d, 'count', 'imp'])).stdout).toBe(before);
  });

  it('an import that is not NDJSON is 415, not an empty import', async () => {
    const r = await post(`${s.url}/v1/namespaces/imp/import`, { documents: [] });
    expect(r.status).toBe(415);
    expect((await json(r)).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('a text/plain body is 415 on every route that takes a body, naming the type to send (upsert said "must be {...}", /query took it)', async () => {
    const text = (path: string, body: string, method = 'POST') => fetch(`${s.url}${path}`, { method, headers: { 'content-type': 'text/plain' }, body });
    for (const [path, body, method, want] of [
      ['/v1/namespaces/imp/upsert', '{"documents":[{"id":"tp"}]}', 'POST', 'application/json'],
      ['/v1/namespaces/imp/delete', '{"ids":[1]}', 'POST', 'application/json'],
      ['/v1/namespaces/imp/query', '{"top_k":1}', 'POST', 'application/json'],
      ['/v1/namespaces/tp', '{"vector_dim":0}', 'PUT', 'application/json'],
      ['/v1/namespaces/imp/import', '{"id":"tp"}\n', 'POST', 'application/x-ndjson'],
    ] as const) {
      const r = await text(path, body, method);
      // NDJSON is the import's type only: elsewhere it is 415 too (each route refused the "empty" body in
      // its own words, 400)
      if (want === 'application/json') {
        const nd = await fetch(`${s.url}${path}`, { method, headers: { 'content-type': 'application/x-ndjson' }, body });
        expect(nd.status, `${path} ndjson`).toBe(415);
        expect((await json(nd)).error.message, path).toContain('Content-Type: application/json');
      }
      expect(r.status, path).toBe(415);
      const e = (await json(r)).error;
      expect(e.code, path).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(e.message, path).toContain(`Content-Type: ${want}`);
    }
    // a body in another charset was decoded as UTF-8 anyway (é in latin1 became U+FFFD): refused, and UTF-8 declared is fine
    const latin1 = await fetch(`${s.url}/v1/namespaces/imp/upsert`, { method: 'POST', headers: { 'content-type': 'application/json; charset=ISO-8859-1' }, body: Buffer.from('{"documents":[{"id":"tp","attributes":{"t":"caf\u00e9"}}]}', 'latin1') });
    expect(latin1.status).toBe(415);
    expect((await json(latin1)).error.message).toContain('charset=ISO-8859-1');
    const ndLatin1 = await fetch(`${s.url}/v1/namespaces/imp/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson;charset=latin1' }, body: '{"id":"tp"}\n' });
    expect(ndLatin1.status).toBe(415);
    expect((await post(`${s.url}/v1/namespaces/imp/query`, { top_k: 1 }, { 'content-type': 'application/json; charset="UTF-8"' })).status).toBe(200);
    expect((await fetch(`${s.url}/v1/namespaces/imp/documents/%22tp%22`)).status).toBe(404);
    expect((await fetch(`${s.url}/v1/namespaces/tp`)).status).toBe(404);
  });

  it('deletes by ids, counting what was not found', async () => {
    const r = await post(`${s.url}/v1/namespaces/imp/delete`, { ids: [1, 2, 'missing'] });
    expect(r.status).toBe(200);
    expect(await json(r)).toMatchObject({ requested: 3, deleted: 2, not_found: 1 });
    expect((await fetch(`${s.url}/v1/namespaces/imp/documents/1`)).status).toBe(404);
  });

  it('drops a namespace; afterwards it is 404 everywhere', async () => {
    const r = await fetch(`${s.url}/v1/namespaces/imp`, { method: 'DELETE' });
    expect(r.status).toBe(200);
    expect((await fetch(`${s.url}/v1/namespaces/imp`)).status).toBe(404);
    expect((await post(`${s.url}/v1/namespaces/imp/query`, { top_k: 1 })).status).toBe(404);
    expect((await cli(['-d', d, 'describe', 'imp'])).code).toBe(3);
  });
});

describe('limits and errors', () => {
  it('a JSON body over --max-body-bytes is 413 naming the limit', async () => {
    const big = { documents: Array.from({ length: 200 }, (_, i) => ({ ...DOCS[0], id: 10_000 + i })) };
    const r = await post(`${s.url}/v1/namespaces/qs/upsert`, big);
    expect(r.status).toBe(413);
    const b = await json(r);
    expect(b.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(b.error.message).toContain('65536');
    // the query route (whose body goes to the query worker as text) keeps the same limit
    const bigQuery = await post(`${s.url}/v1/namespaces/qs/query`, { vector: QVEC, top_k: 3, filter: { field: 'body', op: 'in', value: Array.from({ length: 9000 }, (_, i) => `v${i}`) } });
    expect(bigQuery.status).toBe(413);
    expect((await json(bigQuery)).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('an import line over --max-line-bytes is 413 naming the limit', async () => {
    const line = JSON.stringify({ id: 1, vector: QVEC, attributes: { body: 'x'.repeat(5000) } });
    const r = await fetch(`${s.url}/v1/namespaces/qs/import`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: `${line}\n` });
    expect(r.status).toBe(413);
    expect((await json(r)).error.message).toContain('4096');
  });

  it('malformed JSON, unknown routes and invalid names answer in the error shape with 400/404', async () => {
    const bad = await fetch(`${s.url}/v1/namespaces/qs/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"top_k":' });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe('INVALID_QUERY');
    for (const body of ['', 'null', '[1]', '"text"']) {
      const r = await fetch(`${s.url}/v1/namespaces/qs/query`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body });
      expect(r.status, body).toBe(400);
      expect((await json(r)).error.code, body).toBe('INVALID_QUERY');
    }
    const nf = await fetch(`${s.url}/v2/whatever`);
    expect(nf.status).toBe(404);
    expect((await json(nf)).error.code).toBe('ROUTE_NOT_FOUND');
    const name = await fetch(`${s.url}/v1/namespaces/${encodeURIComponent('bad name')}`);
    expect(name.status).toBe(400);
    expect((await json(name)).error.code).toBe('INVALID_NAMESPACE_NAME');
  });

  it('/metrics parses under a strict Prometheus text-format parser and carries requests, errors and health', async () => {
    const r = await fetch(`${s.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheus(await r.text());
    const req = fams.get('elacsym_http_requests_total')!;
    expect(req.type).toBe('counter');
    expect(req.samples.some((x) => x.labels.route === '/v1/namespaces/:ns/query' && x.labels.status === '200')).toBe(true);
    const lat = fams.get('elacsym_http_request_duration_seconds')!;
    expect(lat.type).toBe('histogram');
    expect(lat.samples.some((x) => x.labels.kind === 'hybrid')).toBe(true);
    expect(fams.get('elacsym_http_errors_total')!.samples.some((x) => x.labels.code === 'PAYLOAD_TOO_LARGE')).toBe(true);
    expect(fams.get('elacsym_http_requests_in_flight')!.samples[0]!.value).toBeGreaterThanOrEqual(1);
    expect(fams.get('elacsym_server_snapshot_generation')!.samples.some((x) => x.labels.namespace === 'qs')).toBe(true);
    // what `health --prometheus` reports
    expect(fams.get('elacsym_documents')!.samples).toContainEqual({ name: 'elacsym_documents', labels: { namespace: 'qs' }, value: DOCS.length });
    expect(fams.has('elacsym_health_status')).toBe(true);
  });

  it('the strict parser refuses what Prometheus refuses', () => {
    expect(() => parsePrometheus('x 1\n')).toThrow(/TYPE/);
    expect(() => parsePrometheus('# TYPE x gauge\nx{a="1",a="2"} 1\n')).toThrow(/duplicate/);
    expect(() => parsePrometheus('# TYPE x gauge\nx{a=1} 1\n')).toThrow(/labels/);
    expect(() => parsePrometheus('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 0\n')).toThrow(/decrease/);
  });
});

describe('the data directory', () => {
  it('a missing one is refused as by every command but init (DATA_DIR_NOT_FOUND, exit 3), and not created', async () => {
    const missing = join(tmpDir(), 'typo');
    const r = await cli(['--json', '-d', missing, 'serve', '--port', '0']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stderr).error).toMatchObject({ code: 'DATA_DIR_NOT_FOUND' });
    expect(JSON.parse(r.stderr).error.hint).toContain(`mkdir -p ${missing}`);
    expect(existsSync(missing)).toBe(false);
  });
});

describe('auth', () => {
  it('with a token every request without it is 401, with it 200 (also on loopback)', async () => {
    const dir = tmpDir();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'correct-horse-battery-staple\n');
    const a = await serve(d, ['--workers', '0', '--token-file', tokenFile]);
    try {
      for (const path of ['/health', '/metrics', '/v1/namespaces', '/v1/namespaces/qs']) {
        const r = await fetch(`${a.url}${path}`);
        expect(r.status).toBe(401);
        expect((await json(r)).error.code).toBe('UNAUTHORIZED');
      }
      expect((await fetch(`${a.url}/v1/namespaces`, { headers: { authorization: 'Bearer wrong-token-wrong-token!' } })).status).toBe(401);
      const ok = await fetch(`${a.url}/v1/namespaces`, { headers: { authorization: 'Bearer correct-horse-battery-staple' } });
      expect(ok.status).toBe(200);
      const q = await post(`${a.url}/v1/namespaces/qs/query`, { vector: QVEC, top_k: 3 }, { authorization: 'Bearer correct-horse-battery-staple' });
      expect((await json(q)).results).toHaveLength(3);
    } finally {
      expect(await a.stop()).toBe(0);
    }
  });

  it('ELACSYM_TOKEN enables auth too; --access-log writes one JSON line per request', async () => {
    const a = await serve(d, ['--workers', '0', '--access-log'], { ELACSYM_TOKEN: 'env-token-env-token-1234' });
    try {
      expect((await fetch(`${a.url}/health?x=1`)).status).toBe(401);
      expect((await fetch(`${a.url}/health`, { headers: { authorization: 'Bearer env-token-env-token-1234' } })).status).toBe(200);
      const q = await post(`${a.url}/v1/namespaces/qs/query`, { full_text: { query: 'water' } }, { authorization: 'Bearer env-token-env-token-1234' });
      expect(q.status).toBe(200);
      const logged = JSON.parse(await a.waitLine(/"route":"\/v1\/namespaces\/:ns\/query"/)) as Record<string, unknown>;
      expect(logged).toMatchObject({ method: 'POST', url: '/v1/namespaces/qs/query', status: 200, kind: 'text' });
      expect(typeof logged.ms).toBe('number');
      expect(typeof logged.time).toBe('string');
      const denied = JSON.parse(await a.waitLine(/"status":401/)) as Record<string, unknown>;
      expect(denied).toMatchObject({ route: '/health', code: 'UNAUTHORIZED' });
    } finally {
      expect(await a.stop()).toBe(0);
    }
  });

  it('binding to a non-loopback address without a token is a usage error (exit 2)', async () => {
    const r = await cli(['-d', d, 'serve', '--host', '0.0.0.0', '--port', '0', '--json']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"code":"USAGE"');
  });
});

describe('start-up cost', () => {
  it('the CLI bundle does not contain the server or fastify (only `serve` loads them)', () => {
    const bundle = readFileSync(join(ROOT, 'dist', 'elacsym.cjs'), 'utf8');
    expect(bundle).not.toMatch(/require\(["']fastify["']\)/);
    expect(bundle).not.toContain('src/server/');
  });
});
