/** ink screen for `elacsym health` on a terminal. Loaded with a dynamic import: scripts never pay for React. */
import { Box, render, Text } from 'ink';
import type { NamespaceHealth } from '../../store/health.js';

const COLOR = { healthy: 'green', degraded: 'yellow', corrupt: 'red' } as const;

function Health({ reports, worst }: { reports: readonly NamespaceHealth[]; worst: keyof typeof COLOR }) {
  return (
    <Box flexDirection="column">
      <Text bold color={COLOR[worst]}>
        elacsym health: {worst.toUpperCase()} ({reports.length} namespaces)
      </Text>
      {reports.map((h) => (
        <Box key={h.namespace} flexDirection="column" borderStyle="round" borderColor={COLOR[h.status]} paddingX={1}>
          <Text>
            <Text bold>{h.namespace}</Text> <Text color={COLOR[h.status]}>{h.status}</Text>
          </Text>
          <Text>
            documents {h.documents} · segments {h.segments} · deleted rows {h.deleted_rows} · disk {(h.disk_bytes / 1048576).toFixed(2)} MiB
          </Text>
          <Text>
            journal: {h.journal.pending_entries} pending ({h.journal.pending_documents} docs), oldest {h.journal.oldest_pending_age_s ?? '-'}s, {h.journal.quarantined} quarantined
          </Text>
          <Text>
            coverage:{' '}
            {Object.entries(h.index_coverage)
              .map(([k, c]) => `${k} ${(c.ratio * 100).toFixed(1)}%`)
              .join(' · ') || 'no indexes'}
          </Text>
          <Text dimColor>
            last compaction {h.last_compaction_at ?? 'never'} · orphans {h.orphan_files.length}
          </Text>
          {h.problems.map((p) => (
            <Text key={p.message} color={p.severity === 'corrupt' ? 'red' : 'yellow'}>
              {p.severity}: [{p.code}] {p.message}
            </Text>
          ))}
        </Box>
      ))}
    </Box>
  );
}

export async function renderHealth(reports: readonly NamespaceHealth[], worst: keyof typeof COLOR): Promise<void> {
  const app = render(<Health reports={reports} worst={worst} />, { stdout: process.stdout, exitOnCtrlC: true });
  app.unmount();
  await app.waitUntilExit();
}
