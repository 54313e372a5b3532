import { readFileSync } from 'node:fs';

/**
 * This process's peak resident set size, in bytes (the `peak_rss_bytes` of `import --json` and
 * `compact --json`).
 *
 * On Linux, VmHWM of /proc/self/status: the high-water mark of this process's own address space. Not
 * getrusage's ru_maxrss (`process.resourceUsage().maxRSS`): Linux carries that over from the parent
 * across fork and exec, so a command started by a process of 1.3 GB reported a 1.3 GB peak whatever it
 * used itself (measured: a child holding 39 MB reported 803 MB after a parent of 843 MB spawned it; the
 * bench's compaction, spawned after its queries, reported 1,349 MB for a ~380 MB compaction). Elsewhere
 * ru_maxrss, the only measure there is.
 */
export function peakRssBytes(): number {
  if (process.platform === 'linux') {
    try {
      const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
      if (m) return Number(m[1]) * 1024;
    } catch {
      // /proc not mounted (a minimal container): fall back
    }
  }
  return process.resourceUsage().maxRSS * 1024;
}
