/**
 * The commander program. Each command is declared here (so `--help` never loads heavy code) and its
 * action lazily imports `commands/<name>.js`, which parses options into a request, calls the core once and
 * prints. Start-up cost of `elacsym query` is therefore commander + the query path only.
 */
import { statSync } from 'node:fs';
import { Argument, Command, CommanderError, Option } from 'commander';
import { ElacsymError, EXIT } from '../errors.js';
import { isUrl } from '../objstore/object-store.js';
import { loadConfig } from './config.js';
import { installInterruptHandlers, removeInterruptHandlers } from './interrupt.js';
import { err, flushOut, type GlobalOptions, reportError } from './output.js';

export const VERSION = '0.1.0';

type Action = (args: string[], opts: Record<string, unknown>, g: GlobalOptions) => Promise<number | void>;

/** ELACSYM_DATA_DIR, where set to something: set but empty counts as unset (the XDG rule), not as the path "". */
function envDataDir(): string | undefined {
  return process.env.ELACSYM_DATA_DIR || undefined;
}

function globals(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals() as Record<string, unknown>;
  let root = cmd;
  while (root.parent) root = root.parent;
  return {
    dataDir: String(o.dataDir ?? envDataDir() ?? './elacsym-data'),
    dataDirExplicit: root.getOptionValueSource('dataDir') !== 'default' || envDataDir() !== undefined,
    explicit: new Set(cmd.options.map((opt) => opt.attributeName()).filter((n) => cmd.getOptionValueSource(n) === 'cli')),
    json: Boolean(o.json),
    quiet: Boolean(o.quiet),
    debug: Boolean(o.debug),
    command: commandPath(cmd),
  };
}

/** "query", "wal inspect": the command as typed after `elacsym` (empty for the program itself). */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

let exitCode = 0;

/**
 * Commands that accept an object-store data directory (issue 14, so far): anywhere else a URL would name a
 * local directory called "s3:" and report a write to S3 that never happened.
 */
const ON_OBJECT_STORE = new Set(['doctor', 'completion', 'query', 'serve', 'export', 'get', 'count', 'namespaces', 'bench']);

/**
 * Commands that run on a working copy of a namespace on an object store (cli/remote-write.ts): the writing
 * ones commit their result as the namespace's next version.
 */
const ON_WORKING_COPY = new Set(['init', 'alter', 'import', 'patch', 'delete', 'compact', 'wal replay', 'health', 'wal inspect', 'describe']);

/**
 * Whether a command's input can be read again: no standard input among its arguments and options, and
 * every path among them that exists a regular file or a directory (a pipe given by name, `<(cmd)`,
 * /dev/stdin or a FIFO reads empty the second time: running again on it would commit nothing and exit 0).
 */
function readsNoStdin(args: unknown[], opts: Record<string, unknown>, g: GlobalOptions): boolean {
  if ((g.command === 'import' || g.command === 'patch') && (args.flat()[1] ?? '-') === '-') return false;
  const values = [...args.flat(), ...Object.values(opts)].filter((v): v is string => typeof v === 'string');
  for (const v of values) {
    if (v === '-' || v === '@-') return false;
    for (const p of v.startsWith('@') ? [v, v.slice(1)] : [v]) {
      let st;
      try {
        st = statSync(p, { throwIfNoEntry: false });
      } catch {
        continue; // not a path (ENOTDIR, ENAMETOOLONG: a JSON value, a long filter)
      }
      if (st && !st.isFile() && !st.isDirectory()) return false;
    }
  }
  return true;
}

/** --s3-endpoint of the commands that take an s3:// data directory (one declaration, one wording). */
const s3EndpointOption = () => new Option('--s3-endpoint <url>', 'with -d s3://...: S3-compatible endpoint (env ELACSYM_S3_ENDPOINT)');

function run(load: () => Promise<{ default: Action }>) {
  return async (...a: unknown[]) => {
    const cmd = a[a.length - 1] as Command;
    const opts = a[a.length - 2] as Record<string, unknown>;
    const args = a.slice(0, -2) as string[];
    const g = globals(cmd);
    if (cmd.registeredArguments[0]?.name() === 'namespace' && typeof args[0] === 'string') g.namespace = args[0];
    installInterruptHandlers(g);
    try {
      if (isUrl(g.dataDir) && !/^s3:\/\//.test(g.dataDir) && g.command !== 'completion') {
        throw new ElacsymError('USAGE', `${g.dataDir}: only s3:// URLs name an object store`, { hint: 'give an S3 or S3-compatible store as s3://bucket/prefix (with --s3-endpoint for a server of your own)' });
      }
      const onStore = isUrl(g.dataDir);
      if (onStore && !ON_OBJECT_STORE.has(g.command ?? '') && !ON_WORKING_COPY.has(g.command ?? '')) {
        throw new ElacsymError('USAGE', `${g.dataDir}: \`${g.command}\` does not work on an object store yet; only ${[...ON_OBJECT_STORE, ...ON_WORKING_COPY].filter((c) => c !== 'completion').join(', ')} do`, {
          hint: `run \`${g.command}\` on a local data directory (\`elacsym publish <namespace> s3://bucket/prefix\` copies a local namespace to the store)`,
        });
      }
      // Every command validates the configuration (files and ELACSYM_* variables), not only those that read
      // a key: a typo in elacsym.toml is an error wherever it is met. Cheap: two stats, the TOML parser
      // loads only when a file exists.
      await loadConfig(g.dataDir);
      const mod = await load();
      const action = (g2: GlobalOptions) => mod.default(args.flat() as string[], opts, g2);
      // A command's own checks of its options and input (mod.preflight) come before the store is contacted:
      // a usage error is USAGE even when the store cannot be reached.
      const preflight = (mod as { preflight?: (a: string[], o: Record<string, unknown>, g: GlobalOptions) => Promise<unknown> }).preflight;
      const code =
        onStore && ON_WORKING_COPY.has(g.command ?? '')
          ? await (await import('./remote-write.js')).withRemoteWorkingCopy(g, opts, action, { rerunnable: readsNoStdin(args, opts, g), preflight: preflight && (() => preflight(args.flat() as string[], opts, g)) })
          : await action(g);
      exitCode = typeof code === 'number' ? code : 0;
    } catch (e) {
      await flushOut().catch(() => undefined);
      exitCode = reportError(e, g);
    } finally {
      removeInterruptHandlers();
    }
  };
}

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
const seeMan = (name: string) => `\nSee man ${name} and the README for exit statuses and details.\n`;

export function buildProgram(): Command {
  const program = new Command('elacsym')
    .description('Hybrid search (vector + BM25 full-text + filters) over a local data directory, with the durability of a database.')
    .version(VERSION, '-V, --version')
    .option('-d, --data-dir <dir>', 'data directory (env ELACSYM_DATA_DIR)', envDataDir() ?? './elacsym-data')
    .option('--json', 'machine-readable output: JSON results on stdout, JSON errors on stderr')
    .option('-q, --quiet', 'no progress or summaries on stderr')
    .option('--debug', 'print stack traces of errors')
    .addHelpText('after', examples(['elacsym init docs --dim 384 --metric cosine --full-text title,body', 'elacsym import docs docs.ndjson', 'elacsym query docs --text "hello" --top-k 5']) + seeMan('elacsym'));

  program
    .command('init')
    .description('create a namespace')
    .argument('<namespace>', 'name: 1-64 characters of [A-Za-z0-9_-]')
    .option('--dim <n>', 'vector dimension; 0 = text only (required unless --schema gives it)')
    .option('--text-only', 'no vectors: the same as --dim 0')
    .addOption(new Option('--metric <metric>', 'vector metric').choices(['cosine', 'l2', 'dot']))
    .option('--schema <file>', "schema JSON in the ancestor's shape (FILE or - for stdin)")
    .option('--full-text <fields>', 'comma-separated string attributes to index for BM25 with the english analyzer')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym init docs --dim 384 --metric cosine --full-text title,body', 'elacsym init docs --schema schema.json']) + seeMan('elacsym-init'))
    .action(run(() => import('./commands/init.js')));

  program
    .command('alter')
    .description("change a field's full-text settings (re-indexed by the next compact)")
    .argument('<namespace>')
    .argument('<field>', 'a string or array<string> attribute')
    .option('--full-text <json>', 'true, false or an options object as in a schema file (or @FILE)')
    .option('--wait <seconds>', 'wait this long for another writer instead of exiting with status 75', '0')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples([`elacsym alter docs title --full-text '{"language":"french","ascii_folding":true}'`, 'elacsym alter docs tags --full-text true', 'elacsym compact docs']) + seeMan('elacsym-alter'))
    .action(run(() => import('./commands/alter.js')));

  program
    .command('namespaces')
    .alias('ls')
    .description('list namespaces with their document counts')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym namespaces', 'elacsym ls --json']) + seeMan('elacsym-namespaces'))
    .action(run(() => import('./commands/namespaces.js')));

  program
    .command('describe')
    .alias('info')
    .description('show a namespace: schema and analyzers, vector settings, counts, segments, disk, index coverage')
    .argument('<namespace>')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym describe docs', 'elacsym describe docs --json | jq .counts']) + seeMan('elacsym-describe'))
    .action(run(() => import('./commands/describe.js')));

  program
    .command('get')
    .description('print documents by id, as NDJSON in the import shape')
    .argument('<namespace>')
    .argument('[ids...]', 'ids (numbers are integer ids; quote strings as JSON to force a string id: \'"42"\')')
    .option('--ids-file <file>', 'one id per line (JSON or bare), or - for stdin')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym get docs 42', 'elacsym get docs 1 2 doc-7 > some.ndjson', 'jq .id wanted.ndjson | elacsym get docs --ids-file -']) + seeMan('elacsym-get'))
    .action(run(() => import('./commands/get.js')));

  program
    .command('count')
    .description('count live documents, optionally those matching a filter')
    .argument('<namespace>')
    .option('--filter <json>', 'filter JSON (the query filter grammar), or @FILE')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym count docs', 'elacsym count docs --filter \'{"field":"year","op":"gte","value":2020}\'']) + seeMan('elacsym-count'))
    .action(run(() => import('./commands/count.js')));

  program
    .command('drop')
    .description('remove a namespace and all its data')
    .argument('<namespace>')
    .option('-y, --yes', 'do not ask for confirmation (required when stdin is not a terminal)')
    .option('--wait <seconds>', 'wait this long for a running writer', '0')
    .addHelpText('after', examples(['elacsym drop docs --yes']) + seeMan('elacsym-drop'))
    .action(run(() => import('./commands/drop.js')));

  program
    .command('import')
    .description('import NDJSON documents (upsert: the newest write of an id wins)')
    .argument('<namespace>')
    .argument('[file]', 'NDJSON file, or - for stdin', '-')
    .addOption(new Option('--on-error <mode>', 'fail: stop at the first bad line; skip: reject it and go on').choices(['fail', 'skip']).default('fail'))
    .option('--rejects <file>', 'with --on-error skip: write rejected lines with their reasons here (NDJSON)')
    .option('--skip-lines <n>', 'skip the first N input lines (resume after a failure)')
    .option('--resume', 'skip the lines an earlier import of the same FILE committed')
    .option('--batch-size <n>', 'documents per durable journal batch', '8192')
    .option('--segment-docs <n>', 'documents per segment flush (bounds memory)', '100000')
    .option('--max-line-bytes <n>', 'reject lines longer than this', String(64 * 1024 * 1024))
    .option('--wait <seconds>', 'wait this long for another writer instead of exiting with status 75', '0')
    .option('--no-flush', 'leave the documents in the durable journal (queryable at once); the next writer or `wal replay` builds their segment')
    .option('--bulk', 'write segments directly, skipping the journal (faster, less memory): documents are acknowledged per segment (--segment-docs), and a failure keeps whole segments only')
    .option('--progress', 'force a progress bar even when stderr is not a terminal')
    .addOption(new Option('--format <format>', 'input format (default: from the file extension, else ndjson)').choices(['ndjson', 'json', 'csv', 'tsv', 'parquet']))
    .option('--id-field <name>', 'flat records: the field holding the id (default: id)')
    .option('--vector-field <name>', 'flat records: the field holding the vector (default: vector)')
    .option('--dry-run', 'validate every record and report what would be inserted, updated and rejected; write nothing')
    .option('--shard <i/n>', 's3:// only: import the documents of shard I of N (by id); the last of the N shards to finish commits them all (needs --job)')
    .option('--job <name>', 'with --shard: the name every shard of one import is given')
    .addOption(s3EndpointOption())
    .addHelpText(
      'after',
      examples(['elacsym import docs docs.ndjson', 'elacsym import docs products.csv --id-field sku --vector-field embedding', 'elacsym import docs docs.ndjson --dry-run', 'cat docs.ndjson | elacsym import docs -', 'elacsym import docs big.ndjson --on-error skip --rejects rejects.ndjson', 'elacsym import docs big.ndjson --resume', 'elacsym -d s3://bucket/search import docs big.ndjson --shard 2/4 --job nightly-1201']) +
        seeMan('elacsym-import'),
    )
    .action(run(() => import('./commands/import.js')));

  program
    .command('patch')
    .description('change attributes of existing documents, keeping their vectors (NDJSON {"id", "attributes"}; null removes one)')
    .argument('<namespace>')
    .argument('[file]', 'NDJSON file, or - for stdin', '-')
    .addOption(new Option('--on-error <mode>', 'fail: stop at the first bad line; skip: reject it and go on').choices(['fail', 'skip']).default('fail'))
    .option('--rejects <file>', 'with --on-error skip: write rejected lines with their reasons here (NDJSON)')
    .option('--skip-lines <n>', 'skip the first N input lines (resume after a failure)')
    .option('--resume', 'skip the lines an earlier patch of the same FILE committed')
    .option('--batch-size <n>', 'patch lines per durable journal batch', '8192')
    .option('--segment-docs <n>', 'documents per segment flush (bounds memory)', '100000')
    .option('--max-line-bytes <n>', 'reject lines longer than this', String(64 * 1024 * 1024))
    .option('--wait <seconds>', 'wait this long for another writer instead of exiting with status 75', '0')
    .option('--no-flush', 'leave the patched documents in the durable journal; the next writer or `wal replay` builds their segment')
    .option('--progress', 'force a progress bar even when stderr is not a terminal')
    .addOption(s3EndpointOption())
    .addHelpText(
      'after',
      examples([
        'elacsym patch docs changes.ndjson',
        'echo \'{"id": 42, "attributes": {"price": 9.5, "draft": null}}\' | elacsym patch docs -',
        'elacsym patch docs big.ndjson --on-error skip --rejects rejects.ndjson',
      ]) + seeMan('elacsym-patch'),
    )
    .action(run(() => import('./commands/patch.js')));

  program
    .command('delete')
    .description('delete documents by id or by filter')
    .argument('<namespace>')
    .option('--ids <ids>', 'comma-separated ids (numbers are integer ids; quote strings as JSON to force a string id: \'"42"\')')
    .option('--ids-file <file>', 'one id per line (JSON or bare), or - for stdin')
    .option('--filter <json>', 'delete every live document matching this filter (query filter grammar), or @FILE')
    .option('--dry-run', 'with --filter: print how many documents would be deleted, write nothing')
    .option('--wait <seconds>', 'wait this long for another writer', '0')
    .addOption(s3EndpointOption())
    .addHelpText(
      'after',
      examples(['elacsym delete docs --ids 1,2,3', 'jq .id gone.ndjson | elacsym delete docs --ids-file -', 'elacsym delete docs --filter \'{"field":"year","op":"lt","value":2000}\' --dry-run']) +
        seeMan('elacsym-delete'),
    )
    .action(run(() => import('./commands/delete.js')));

  program
    .command('export')
    .description('write the live documents as NDJSON in the import shape')
    .argument('<namespace>')
    .option('-o, --output <file>', 'write to FILE instead of stdout')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym export docs > docs.ndjson', 'elacsym export docs | elacsym import copy -']) + seeMan('elacsym-export'))
    .action(run(() => import('./commands/export.js')));

  program
    .command('query')
    .description('vector, full-text, filtered and hybrid queries')
    .argument('<namespace>')
    .option('--vector <json>', 'query vector as a JSON array, or @FILE')
    .option('--text <query>', 'full-text query; "quoted phrases" match the sequence')
    .option('--fields <fields>', 'full-text fields with optional weights: title^2,body (default: all full-text fields)')
    .option('--filter <json>', 'filter JSON, or @FILE')
    .option('-k, --top-k <n>', 'number of results', '10')
    .option('--include-vector', 'include vectors in results')
    .option('--include-attributes <names>', 'comma-separated attributes to include (default: all; "" for none)')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'ndjson', 'table']))
    .option('--explain', 'add the plan and per-retriever ranks and scores')
    .option('--nprobe <n>', 'vector search: IVF clusters each segment probes at least (default: adaptive); more is slower and finds more of the true nearest')
    .option('--exact', 'vector search: score every matching vector exactly (no approximation; reads every vector)')
    .option('--sort <keys>', 'filter-only listing: sort by attributes or id, e.g. year:desc,title (ties by id; missing values last)')
    .option('--limit <n>', 'filter-only listing: documents per page (no 10,000 cap)')
    .option('--offset <n>', 'filter-only listing: skip the first N documents')
    .option('--after <cursor>', "filter-only listing: the page after this cursor (the previous page's next_cursor); stable while writes happen")
    .option('--rrf-k <n>', 'RRF constant k for hybrid fusion', '60')
    .option('--vector-weight <w>', 'hybrid: weight of the vector retriever', '1')
    .option('--text-weight <w>', 'hybrid: weight of the full-text retriever', '1')
    .option('--request <file>', "one JSON request in the ancestor's query shape (FILE or -)")
    .option('--batch <file>', 'NDJSON requests, one response line per non-empty line (FILE or -)')
    .option('--warm-up <n>', 'with --batch: first answer N rounds of queries built from the data, so early requests are not slower', '0')
    .option('--threads <n>', 'with --batch: threads (1-256) that search the segments of each vector query (default 1); lower mean latency where cores are free')
    .addOption(s3EndpointOption())
    .addHelpText(
      'after',
      examples([
        'elacsym query docs --text "vector database" --top-k 5',
        'elacsym query docs --vector "[0.1,0.2,0.3]" --filter \'{"field":"category","op":"eq","value":"tech"}\'',
        'elacsym query docs --vector @q.json --text "rust" --explain',
        'elacsym query docs --vector @q.json --exact --top-k 100',
        'elacsym query docs --batch requests.ndjson > responses.ndjson',
        'elacsym query docs --filter \'{"field":"year","op":"gte","value":2020}\' --sort year:desc --limit 1000 --format json',
      ]) + seeMan('elacsym-query'),
    )
    .action(run(() => import('./commands/query.js')));

  program
    .command('compact')
    .description('merge segments, drop superseded and deleted documents, rebuild indexes')
    .argument('[namespace]')
    .option('--all', 'compact every namespace')
    .option('--if-needed', 'only when past the documented thresholds; otherwise report "nothing to do"')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--wait <seconds>', 'wait this long for another writer instead of exiting with status 75', '0')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym compact docs', 'elacsym compact --all --if-needed --json']) + seeMan('elacsym-compact'))
    .action(run(() => import('./commands/compact.js')));

  const wal = program.command('wal').description('inspect and replay the write-ahead journal');
  wal
    .command('inspect')
    .description("list the journal's entries and verify their checksums")
    .argument('<namespace>')
    .option('--dump <dir>', 'write the bytes of quarantined entries to DIR')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym wal inspect docs', 'elacsym wal inspect docs --json']) + seeMan('elacsym-wal'))
    .action(run(async () => ({ default: (await import('./commands/wal.js')).inspect })));
  wal
    .command('replay')
    .description('apply every pending journal entry into segments now')
    .argument('<namespace>')
    .option('--dry-run', 'report what would be applied')
    .option('--segment-docs <n>', 'documents per segment built from the backlog (bounds memory)', '100000')
    .option('--purge-quarantine', 'afterwards delete quarantined entries (save them first with `wal inspect --dump DIR`)')
    .option('--wait <seconds>', 'wait this long for another writer', '0')
    .option('--abandon-job <name>', 's3:// only: remove the stages of a sharded import job that will not be committed')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym wal replay docs', 'elacsym wal replay docs --dry-run']) + seeMan('elacsym-wal'))
    .action(run(async () => ({ default: (await import('./commands/wal.js')).replay })));

  program
    .command('backup')
    .description('copy a namespace into a new directory, consistently, while imports and compactions run')
    .argument('<namespace>')
    .argument('<dir>', 'the backup directory to create (must not exist)')
    .option('--copy', 'copy segment files instead of hard-linking them (a backup sharing no blocks with the data)')
    .addHelpText('after', examples(['elacsym backup docs /backups/docs-2026-11-30', 'elacsym backup docs /mnt/usb/docs --copy --json']) + seeMan('elacsym-backup'))
    .action(run(() => import('./commands/backup.js')));

  program
    .command('publish')
    .description('publish a namespace to an object store as its next committed version, for `query -d s3://...` on any machine')
    .argument('<namespace>')
    .argument('<target>', 's3://bucket/prefix: the object-store data directory (the namespace goes under <prefix>/<namespace>/)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint, path-style addressing (env ELACSYM_S3_ENDPOINT; default: AWS)')
    .option('--gc-grace <seconds>', 'delete objects that only versions superseded longer ago than this reference', '900')
    .addHelpText('after', examples(['elacsym publish docs s3://my-bucket/search', 'ELACSYM_S3_ENDPOINT=http://127.0.0.1:7480 elacsym publish docs s3://test/search --json']) + seeMan('elacsym-publish'))
    .action(run(() => import('./commands/publish.js')));

  program
    .command('restore')
    .description('verify a backup and publish it as a namespace')
    .argument('<dir>', 'a directory written by `elacsym backup`')
    .argument('<namespace>')
    .option('--force', 'replace an existing namespace (waits for no writer: takes its writer lock)')
    .option('--copy', 'copy segment files instead of hard-linking them from the backup')
    .option('--wait <seconds>', 'with --force: wait this long for a running writer of the namespace', '0')
    .addHelpText('after', examples(['elacsym restore /backups/docs-2026-11-30 docs', 'elacsym restore /backups/docs-2026-11-30 docs --force']) + seeMan('elacsym-restore'))
    .action(run(() => import('./commands/restore.js')));

  program
    .command('completion')
    .description('print a shell completion script (commands, options, choices and namespace names)')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      examples(['source <(elacsym completion bash)', 'source <(elacsym completion zsh)', 'elacsym completion fish > ~/.config/fish/completions/elacsym.fish']) +
        seeMan('elacsym-completion'),
    )
    .action(run(() => import('./commands/completion.js')));

  program
    .command('health')
    .description('report the health of namespaces; exit 0 healthy, 6 degraded, 5 corrupt')
    .argument('[namespace]')
    .option('--deep', 'verify every checksum and the manifest against the files')
    .option('--prometheus', 'print Prometheus text exposition format')
    .option('--max-backlog <n>', 'pending journal documents that count as degraded', '100000')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym health', 'elacsym health docs --deep --json', 'elacsym health --prometheus > elacsym.prom.tmp; mv elacsym.prom.tmp /var/lib/node_exporter/textfile_collector/elacsym.prom']) + seeMan('elacsym-health'))
    .action(run(() => import('./commands/health.js')));

  program
    .command('serve')
    .description('serve the data directory over HTTP (the ancestor\'s API, /health, /metrics)')
    .option('--host <host>', 'address to bind; other than loopback requires a token', '127.0.0.1')
    .option('--port <port>', 'TCP port; 0 = any free port', '8080')
    .option('--token-file <file>', 'require "Authorization: Bearer <token>" with the token in FILE (env ELACSYM_TOKEN)')
    .option('--workers <n>', 'query worker threads (default: the number of cores; 0 = main thread)')
    .option('--max-body-bytes <n>', 'largest JSON request body (413 beyond)', String(16 * 1024 * 1024))
    .option('--max-line-bytes <n>', 'largest NDJSON line of an import (413 beyond)', String(64 * 1024 * 1024))
    .option('--request-timeout <seconds>', 'time limit of a query (0 = none)', '30')
    .option('--write-wait <seconds>', 'how long a write waits for another writer before 503', '5')
    .option('--shutdown-timeout <seconds>', 'on SIGTERM/SIGINT, how long in-flight requests may take', '10')
    .option('--access-log', 'one JSON line per request on stderr')
    .option('--refresh-interval <seconds>', 'with -d s3://...: how old a check of the latest published version may get before a query checks again (default: 1)')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym serve --port 8080', 'ELACSYM_TOKEN=$(cat token) elacsym serve --host 0.0.0.0 --access-log', "curl -s localhost:8080/v1/namespaces/docs/query -H 'content-type: application/json' -d '{\"full_text\":{\"query\":\"hello\"}}'"]) + seeMan('elacsym-serve'))
    .action(run(() => import('./commands/serve.js')));

  program
    .command('doctor')
    .description('check that a data directory or an s3:// store can hold elacsym data safely (round trip, ranges, listing, conditional create)')
    .argument('[target]', 'a directory or s3://bucket/prefix (default: the data directory)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint, path-style addressing (env ELACSYM_S3_ENDPOINT; default: AWS)')
    .addHelpText('after', examples(['elacsym doctor ./elacsym-data', 'ELACSYM_S3_ENDPOINT=http://127.0.0.1:7480 elacsym doctor s3://my-bucket/search --json']) + seeMan('elacsym-doctor'))
    .action(run(() => import('./commands/doctor.js')));

  program
    .command('bench')
    .description('generate a dataset, import it and measure import speed, latency and recall')
    .option('--docs <n>', 'documents', '20000')
    .option('--dim <n>', 'vector dimension', '64')
    .option('--queries <n>', 'queries per kind (a p99 is the tenth-slowest of 1000)', '1000')
    .option('-k, --top-k <n>', 'results per query', '10')
    .option('--seed <n>', 'dataset seed', '42')
    .option('--noise <x>', 'spread of documents around their cluster centres (0.35: clusters far apart; 2: nearly unclustered, the hard case for recall)')
    .option('--baseline <file>', 'compare against an earlier --json report (options left out take its dataset)')
    .option('--max-regression <pct>', 'with --baseline: allowed latency growth / recall drop in percent', '20')
    .addOption(new Option('--metric <metric>', 'vector metric').choices(['cosine', 'l2', 'dot']).default('cosine'))
    .option('--keep', 'keep the generated data directory')
    .option('--compare-hnsw', 'also build and query an hnswlib-node index on the same vectors')
    .option('--compact', 'then compact the namespace (peak RSS, time) and measure --batch and recall again')
    .option('--bulk', 'import with `import --bulk` (segments written directly, acknowledged per segment)')
    .option('--threads <n>', 'run the `query --batch` processes with --threads N (default 1)')
    .addOption(s3EndpointOption())
    .addHelpText('after', examples(['elacsym bench', 'elacsym bench --docs 100000 --dim 128 --json > report.json', 'elacsym bench --baseline report.json --max-regression 20', 'elacsym -d s3://bucket/bench bench --docs 100000 --dim 128']) + seeMan('elacsym-bench'))
    .action(run(() => import('./commands/bench.js')));

  return program;
}

/** Every command of the program, depth first. */
function allCommands(c: Command): Command[] {
  return [c, ...c.commands.flatMap(allCommands)];
}

/**
 * `--json` as typed, read before commander has parsed anything: a usage error (unknown option, missing
 * argument, invalid choice, unknown command) happens before the options are stored, and still has to be
 * reported as the documented JSON object.
 */
function wantsJson(argv: string[]): boolean {
  const rest = argv.slice(2);
  const end = rest.indexOf('--');
  return (end < 0 ? rest : rest.slice(0, end)).includes('--json');
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = wantsJson(argv);
  // Commander's own errors are not printed by commander: they are turned into a USAGE ElacsymError below
  // and reported like every other error (text or JSON), with a hint naming the command that failed.
  let failed: Command = program;
  for (const c of allCommands(program)) {
    c.exitOverride((e) => {
      failed = c;
      throw e;
    });
    c.configureOutput({
      writeErr: (s) => {
        if (!json) err(s.replace(/\n$/, ''));
      },
      writeOut: (s) => process.stdout.write(s),
      outputError: () => undefined,
    });
  }
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.OK;
      if (e.code === 'commander.help' && e.exitCode === 0) return EXIT.OK;
      const path = commandPath(failed);
      // `elacsym` or `elacsym wal` without a subcommand: commander printed the help (text mode), exit 2.
      const message =
        e.code === 'commander.help' ? `\`elacsym${path ? ` ${path}` : ''}\` needs a command: ${failed.commands.map((c) => c.name()).join(', ')}` : e.message.replace(/^error: /, '').replace(/\n+/g, ' ');
      return reportError(new ElacsymError('USAGE', message, { hint: `see \`elacsym ${path ? `${path} ` : ''}--help\`` }), { json, debug: false });
    }
    return reportError(e, { json, debug: true });
  }
  try {
    await flushOut();
  } catch (e) {
    // stdout closed by its reader: nothing more to say (reportError returns 0). Any other failure to
    // write the output (a full disk) is an error, never an exit 0 with the output cut short.
    const code = reportError(e, { json: argv.includes('--json'), debug: argv.includes('--debug') });
    if (code !== EXIT.OK) return code;
  }
  return exitCode;
}
