/**
 * The server's own Prometheus metrics (text exposition format 0.0.4), kept in plain maps: a handful of
 * counters and histograms do not need a client library. `/metrics` appends what `elacsym health
 * --prometheus` reports (store/health.ts toPrometheus), so one scrape job sees both.
 */

/** Latency buckets in seconds: sub-millisecond queries up to slow imports. */
export const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Histogram {
  labels: string;
  counts: number[];
  sum: number;
  count: number;
}

export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  private readonly errors = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  inflight = 0;

  /** Records one finished request. `kind` is the query kind for query routes, '' otherwise. */
  observe(route: string, method: string, status: number, seconds: number, kind: string, errorCode?: string): void {
    const rl = `route="${esc(route)}",method="${method}",status="${status}"`;
    this.requests.set(rl, (this.requests.get(rl) ?? 0) + 1);
    const hl = `route="${esc(route)}",kind="${esc(kind)}"`;
    let h = this.latency.get(hl);
    if (!h) this.latency.set(hl, (h = { labels: hl, counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
    h.sum += seconds;
    h.count++;
    if (errorCode) {
      const el = `code="${esc(errorCode)}"`;
      this.errors.set(el, (this.errors.get(el) ?? 0) + 1);
    }
  }

  toText(extra: { workers: number; snapshots: { worker: string; namespace: string; generation: number; refresh_age_s: number; journal_seq: number }[] }): string {
    const l: string[] = [];
    l.push('# HELP elacsym_http_requests_total HTTP requests answered, by route, method and status.', '# TYPE elacsym_http_requests_total counter');
    for (const [k, v] of this.requests) l.push(`elacsym_http_requests_total{${k}} ${v}`);
    l.push('# HELP elacsym_http_request_duration_seconds Time to answer a request, by route and query kind.', '# TYPE elacsym_http_request_duration_seconds histogram');
    for (const h of this.latency.values()) {
      BUCKETS.forEach((b, i) => l.push(`elacsym_http_request_duration_seconds_bucket{${h.labels},le="${b}"} ${h.counts[i]}`));
      l.push(`elacsym_http_request_duration_seconds_bucket{${h.labels},le="+Inf"} ${h.count}`);
      l.push(`elacsym_http_request_duration_seconds_sum{${h.labels}} ${num(h.sum)}`);
      l.push(`elacsym_http_request_duration_seconds_count{${h.labels}} ${h.count}`);
    }
    l.push('# HELP elacsym_http_errors_total Error answers by stable error code.', '# TYPE elacsym_http_errors_total counter');
    for (const [k, v] of this.errors) l.push(`elacsym_http_errors_total{${k}} ${v}`);
    l.push('# HELP elacsym_http_requests_in_flight Requests being answered now.', '# TYPE elacsym_http_requests_in_flight gauge');
    l.push(`elacsym_http_requests_in_flight ${this.inflight}`);
    l.push('# HELP elacsym_server_query_workers Query worker threads (0 = queries on the main thread).', '# TYPE elacsym_server_query_workers gauge');
    l.push(`elacsym_server_query_workers ${extra.workers}`);
    l.push('# HELP elacsym_server_snapshot_generation Snapshots opened for a namespace by a query thread (worker; main = the main thread) since start (grows with every write seen).', '# TYPE elacsym_server_snapshot_generation gauge');
    for (const s of extra.snapshots) l.push(`elacsym_server_snapshot_generation{worker="${s.worker}",namespace="${esc(s.namespace)}"} ${s.generation}`);
    l.push('# HELP elacsym_server_snapshot_refresh_age_seconds Seconds since a query thread last confirmed a namespace snapshot current.', '# TYPE elacsym_server_snapshot_refresh_age_seconds gauge');
    for (const s of extra.snapshots) l.push(`elacsym_server_snapshot_refresh_age_seconds{worker="${s.worker}",namespace="${esc(s.namespace)}"} ${num(s.refresh_age_s)}`);
    l.push(
      '# HELP elacsym_server_snapshot_journal_seq The journal sequence number a query thread\'s snapshot covers: every write committed with a sequence up to it is visible to that thread\'s queries.',
      '# TYPE elacsym_server_snapshot_journal_seq gauge',
    );
    for (const s of extra.snapshots) l.push(`elacsym_server_snapshot_journal_seq{worker="${s.worker}",namespace="${esc(s.namespace)}"} ${s.journal_seq}`);
    return `${l.join('\n')}\n`;
  }
}

export const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
export const num = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(6));
